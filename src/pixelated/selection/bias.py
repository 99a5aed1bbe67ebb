"""The bias report: does selection keep some groups (emotion, problem, topic) at a different
rate from the rest of their source set?"""

from __future__ import annotations

import pandas as pd


def bias_report(
    decisions: pd.DataFrame, group_columns: list[str], min_group: int, max_relative_gap: float
) -> dict:
    """Keep rate and score distribution per group; a group is flagged when its keep rate
    differs from the overall rate of its source set by more than `max_relative_gap` (relative)."""
    report = {}
    for column in group_columns:
        part = decisions.loc[decisions[column].notna(), [column, "kept", "quality"]]
        if part.empty:
            continue
        overall = float(part["kept"].mean())
        groups = {}
        for value, members in part.groupby(column, sort=True):
            rate = float(members["kept"].mean())
            gap = (rate - overall) / overall if overall else 0.0
            groups[str(value)] = {
                "n": len(members),
                "keep_rate": round(rate, 4),
                "relative_gap": round(gap, 4),
                "quality_p25": round(float(members["quality"].quantile(0.25)), 4),
                "quality_median": round(float(members["quality"].median()), 4),
                "quality_p75": round(float(members["quality"].quantile(0.75)), 4),
                "flagged": bool(len(members) >= min_group and abs(gap) > max_relative_gap),
            }
        report[column] = {
            "overall_keep_rate": round(overall, 4),
            "groups": groups,
            "flagged": sorted(name for name, g in groups.items() if g["flagged"]),
        }
    return report
