"""The bias report: does selection keep some groups (emotion, problem, topic) at a different
rate from the rest of their source set?

It reads select's `decisions` table in SQL (see `select.decision_table`): counts per group,
and of each group's quality scores only the order statistics its quartiles need, so the
report holds a few numbers per group, never a column per conversation."""

from __future__ import annotations

import duckdb

from pixelated.core import sql

QUALITY_QUANTILES = {"quality_p25": 0.25, "quality_median": 0.5, "quality_p75": 0.75}


def bias_report(
    decisions: duckdb.DuckDBPyConnection, group_columns: list[str], min_group: int, max_relative_gap: float
) -> dict:
    """Keep rate and score distribution per group; a group is flagged when its keep rate
    differs from the overall rate of its source set by more than `max_relative_gap` (relative)."""
    report = {}
    for column in group_columns:
        counts = decisions.sql(
            f"SELECT {sql.identifier(column)}, count(*), count_if(kept) FROM decisions"
            f" WHERE {sql.identifier(column)} IS NOT NULL GROUP BY ALL"
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
    """Per group of `column`, QUALITY_QUANTILES of its quality scores: exactly pandas'
    numbers, from a few order statistics (`sql.order_statistics`)."""
    ranked = sql.order_statistics(decisions, "decisions", "quality", QUALITY_QUANTILES.values(), group=column)
    return {
        value: {
            name: sql.median(n, at) if name == "quality_median" else sql.quantile(n, at, q)
            for name, q in QUALITY_QUANTILES.items()
        }
        for value, (n, at) in ranked.items()
    }
