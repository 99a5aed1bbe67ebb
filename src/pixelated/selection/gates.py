"""Selection (the cheap "decide" step after scoring): tiers, the safety gate, review overrides,
the clinician review sample and the bias report.

Every threshold comes from config (`quality`, `safety`, `review`), so `dvc exp run -S
quality.min_score=0.8` re-runs only this step. A reviewer's verdict in reviews/verdicts.csv
overrides the automatic decision for that conversation on the next `dvc repro`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pixelated.core.hashing import seeded_key
from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.schema import TIERS
from pixelated.scoring.metrics import sinking_metric

VERDICTS = ("keep", "drop")
VERDICT_COLUMNS = ("conversation_id", "verdict", "reviewer", "note")


def tier_of(quality: pd.Series, thresholds: dict[str, float]) -> pd.Series:
    """Highest tier each score reaches (production > recommended > minimum), else 'below'."""
    tier = pd.Series("below", index=quality.index, dtype="string")
    for name in reversed(TIERS[:-1]):  # minimum, recommended, production: later wins
        tier[quality >= float(thresholds[name])] = name
    return tier


def gate_reasons(frame: pd.DataFrame, cfg: dict) -> pd.Series:
    """The automatic reason to drop each row ('' = keep): the first failing gate, in order
    safety, therapeutic (clinical) accuracy, overall quality (named by the sub-metric that sank it)."""
    q = cfg["quality"]
    reasons = pd.Series("", index=frame.index, dtype="string")
    low_quality = frame["quality"] < float(q["min_score"])
    sank = frame[low_quality].apply(lambda row: f"low_quality_{sinking_metric(row, q['weights'])}", axis=1)
    reasons[low_quality] = sank.astype("string") if len(sank) else reasons[low_quality]
    reasons[frame["therapeutic_accuracy"] < float(q["min_clinical_accuracy"])] = "low_therapeutic_accuracy"
    reasons[frame["safety"] < float(cfg["safety"]["min_score"])] = "low_safety"
    return reasons


def read_verdicts(path: Path) -> pd.DataFrame:
    """Reviewed verdicts (git-tracked CSV); blank verdicts are ignored, unknown ones refused."""
    verdicts = pd.read_csv(path, dtype="string", keep_default_na=False)
    missing = set(VERDICT_COLUMNS) - set(verdicts.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    verdicts = verdicts[verdicts["verdict"].str.strip() != ""].copy()
    verdicts["verdict"] = verdicts["verdict"].str.strip().str.lower()
    bad = verdicts[~verdicts["verdict"].isin(VERDICTS)]
    if len(bad):
        raise ValueError(f"{path}: verdict must be one of {VERDICTS}: {bad['conversation_id'].tolist()[:5]}")
    if verdicts["conversation_id"].duplicated().any():
        raise ValueError(f"{path}: more than one verdict for a conversation")
    return verdicts.set_index("conversation_id")


def decide_batch(
    batch: pd.DataFrame, cfg: dict, verdicts: pd.DataFrame
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Kept rows (with quality_tier and decision_source) and one rejection per dropped row."""
    reasons = gate_reasons(batch, cfg)
    source = pd.Series("automatic", index=batch.index, dtype="string")
    verdict = batch["conversation_id"].map(verdicts["verdict"]) if len(verdicts) else None
    if verdict is not None:
        reviewed = verdict.notna()
        reasons[reviewed & (verdict == "keep")] = ""
        reasons[reviewed & (verdict == "drop")] = "review_rejected"
        source[reviewed] = "review"
    keep = reasons == ""
    kept = batch.assign(
        quality_tier=tier_of(batch["quality"], cfg["quality"]["tiers"]), decision_source=source
    )[keep]
    rejections = [
        row_rejection(row, reason, _detail(row, reason))
        for (_, row), reason in zip(batch[~keep].iterrows(), reasons[~keep], strict=True)
    ]
    return kept.reset_index(drop=True), rejections


def _detail(row: pd.Series, reason: str) -> str:
    if reason == "low_safety":
        return f"safety={row['safety']:.3f} ({row['safety_reason']}; crisis={row['crisis_kinds'] or 'none'})"
    if reason == "review_rejected":
        return "dropped by a reviewer in reviews/verdicts.csv"
    metric = (
        "therapeutic_accuracy"
        if reason == "low_therapeutic_accuracy"
        else reason.removeprefix("low_quality_")
    )
    return f"quality={row['quality']:.3f} {metric}={row[metric]:.3f}"


def review_sample(scores: pd.DataFrame, fraction: float, seed: int, safety_min: float) -> pd.DataFrame:
    """Conversations for clinician review, with why: a `fraction` sample stratified by source x
    tier (at least one per stratum, seeded hash order), every crisis flag, every safety drop."""
    strata = scores["source"] + "|" + scores["quality_tier"]
    picked: dict[str, list[str]] = {}
    for _, part in scores.groupby(strata, sort=True):
        n = max(1, math.ceil(fraction * len(part)))
        chosen = sorted(part["conversation_id"], key=lambda c: seeded_key(seed, c))[:n]
        for cid in chosen:
            picked.setdefault(cid, []).append("sample")
    for cid in scores.loc[scores["crisis_kinds"] != "", "conversation_id"]:
        picked.setdefault(cid, []).append("crisis_flag")
    for cid in scores.loc[scores["safety"] < safety_min, "conversation_id"]:
        picked.setdefault(cid, []).append("low_safety")
    reasons = pd.Series(
        {cid: "+".join(dict.fromkeys(why)) for cid, why in picked.items()}, name="review_reason"
    )
    chosen = scores[scores["conversation_id"].isin(reasons.index)].copy()
    chosen["review_reason"] = chosen["conversation_id"].map(reasons)
    return chosen.sort_values("conversation_id").reset_index(drop=True)


def bias_report(
    decisions: pd.DataFrame, group_columns: list[str], min_group: int, max_relative_gap: float
) -> dict:
    """Keep rate and score distribution per group; a group is flagged when its keep rate
    differs from the overall rate of its source set by more than `max_relative_gap` (relative)."""
    report = {}
    for column in group_columns:
        part = decisions[decisions[column].notna()]
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


def tier_counts(scores: pd.DataFrame, cfg: dict) -> dict:
    """How many conversations each tier would keep (same gates, that tier's threshold)."""
    counts = {}
    for tier in TIERS[:-1]:
        threshold = float(cfg["quality"]["tiers"][tier])
        trial = {**cfg, "quality": {**cfg["quality"], "min_score": threshold}}
        counts[tier] = int((gate_reasons(scores, trial) == "").sum())
    return counts


def verdict_template(review: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """review.csv: one row per conversation to review, verdict columns blank unless already given."""
    out = review[
        ["conversation_id", "source", "review_reason", "quality", "quality_tier", "safety", "safety_reason",
         "crisis_kinds", "cssrs_level", "auto_decision"]
    ].copy()  # fmt: skip
    for column in VERDICT_COLUMNS[1:]:
        given = out["conversation_id"].map(verdicts[column]) if len(verdicts) else None
        out[column] = given.fillna("") if given is not None else ""
    out[["quality", "safety"]] = out[["quality", "safety"]].round(3)
    return out


def render_review_html(review: pd.DataFrame, metrics: tuple[str, ...], fraction: float) -> str:
    """The review page a clinician reads: each conversation, its scores, flags, blank verdict."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pixelated.selection", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
    )
    conversations = []
    for row in review.to_dict("records"):
        row["turns"] = list(row["turns"])
        row["crisis_turn_set"] = {int(i) for i in row["crisis_turns"].split(",") if i}
        conversations.append(row)
    return env.get_template("review.html.j2").render(
        conversations=conversations, metrics=metrics, fraction_percent=f"{100 * fraction:g}"
    )
