"""The bias report: does selection keep some groups (emotion, problem, topic) at a different
rate from the rest of their source set?

It reads select's `decisions` table in SQL (see `select.decision_table`): counts per group,
and of each group's quality scores only the order statistics its quantiles need, so the
report holds a few numbers per group, never a column per conversation."""

from __future__ import annotations

import math
from collections import defaultdict

import duckdb
import pandas as pd

QUALITY_QUANTILES = {"quality_p25": 0.25, "quality_median": 0.5, "quality_p75": 0.75}


def bias_report(
    decisions: duckdb.DuckDBPyConnection, group_columns: list[str], min_group: int, max_relative_gap: float
) -> dict:
    """Keep rate and score distribution per group; a group is flagged when its keep rate
    differs from the overall rate of its source set by more than `max_relative_gap` (relative)."""
    report = {}
    for column in group_columns:
        counts = decisions.sql(
            f"SELECT {_name(column)}, count(*), count_if(kept) FROM decisions"
            f" WHERE {_name(column)} IS NOT NULL GROUP BY ALL"
        ).fetchall()
        if not counts:
            continue
        overall = sum(kept for _, _, kept in counts) / sum(n for _, n, _ in counts)
        quantiles = quality_quantiles(decisions, column)
        groups = {}
        for value, n, kept in sorted(counts):
            rate = kept / n
            gap = (rate - overall) / overall if overall else 0.0
            groups[str(value)] = {
                "n": n,
                "keep_rate": round(rate, 4),
                "relative_gap": round(gap, 4),
                **{name: round(q, 4) for name, q in quantiles[value].items()},
                "flagged": bool(n >= min_group and abs(gap) > max_relative_gap),
            }
        report[column] = {
            "overall_keep_rate": round(overall, 4),
            "groups": groups,
            "flagged": sorted(name for name, g in groups.items() if g["flagged"]),
        }
    return report


def quality_quantiles(decisions: duckdb.DuckDBPyConnection, column: str) -> dict[object, dict[str, float]]:
    """QUALITY_QUANTILES of each group of `column`, exactly the numbers pandas gives for the
    group's whole quality column. A q-quantile of n sorted values lies between the values at
    places floor and ceil of (n - 1) q; DuckDB ranks each group (spilling past its cap) and
    returns those few, and pandas interpolates between them with the same float operations:
    linearly, or for the median as the mean of the middle two."""
    places = ", ".join(f"floor((n - 1) * {q}), ceil((n - 1) * {q})" for q in QUALITY_QUANTILES.values())
    group = _name(column)
    ranked = decisions.sql(
        f"""SELECT value, n, place, quality FROM (
            SELECT {group} AS value, quality, count(*) OVER (PARTITION BY {group}) AS n,
                row_number() OVER (PARTITION BY {group} ORDER BY quality) - 1 AS place
            FROM decisions WHERE {group} IS NOT NULL)
        WHERE place IN ({places})"""
    ).fetchall()
    sizes, at = {}, defaultdict(dict)
    for value, n, place, quality in ranked:
        sizes[value] = n
        at[value][place] = quality
    quantiles = {}
    for value, n in sizes.items():
        quantiles[value] = {}
        for name, q in QUALITY_QUANTILES.items():
            place = (n - 1) * q
            low, high = math.floor(place), math.ceil(place)
            around = pd.Series([at[value][low], at[value][high]])
            quantiles[value][name] = float(around.median() if q == 0.5 else around.quantile(place - low))
    return quantiles


def _name(column: str) -> str:
    """`column` as a quoted SQL identifier (the group columns come from config)."""
    return '"' + column.replace('"', '""') + '"'
