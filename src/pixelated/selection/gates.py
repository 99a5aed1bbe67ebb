"""The selection gates (the cheap "decide" step after scoring): tiers, the safety gate, the
clinical-accuracy gate, the quality gate, and reviewer verdicts that override them.

Every threshold comes from config (`quality`, `safety`), so `dvc exp run -S
quality.min_score=0.8` re-runs only `select`. A reviewer's verdict in reviews/verdicts.csv
overrides the automatic decision for that conversation on the next `dvc repro`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pixelated.core import csvsafe
from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.schema import TIERS
from pixelated.scoring.config import QualityConfig, SafetyConfig
from pixelated.scoring.metrics import METRICS, sinking_metrics

VERDICTS = ("keep", "drop")
VERDICT_COLUMNS = ("conversation_id", "verdict", "reviewer", "note")
LOW_QUALITY = {metric: f"low_quality_{metric}" for metric in METRICS}  # drop reason per sinking metric


def tier_of(quality: pd.Series, thresholds: dict[str, float]) -> pd.Series:
    """Highest tier each score reaches (production > recommended > minimum), else 'below'."""
    tier = pd.Series("below", index=quality.index, dtype="string")
    for name in reversed(TIERS[:-1]):  # minimum, recommended, production: later wins
        tier[quality >= thresholds[name]] = name
    return tier


def gate_reasons(frame: pd.DataFrame, quality: QualityConfig, safety: SafetyConfig) -> pd.Series:
    """The automatic reason to drop each row ('' = keep): the first failing gate, in order
    safety, therapeutic (clinical) accuracy, overall quality (named by the sub-metric that sank it).
    Safety and clinical accuracy must lie strictly above their bounds (the spec: safety > 0.8
    for every kept conversation, clinical accuracy > 0.65); a quality tier is reached at its bound."""
    reasons = np.full(len(frame), "", dtype=object)  # a few shared strings, 8 bytes a row
    low_quality = (frame["quality"] < quality.min_score).to_numpy(bool)
    sank = sinking_metrics(frame, quality.weights)[low_quality]
    reasons[low_quality] = np.array([LOW_QUALITY[metric] for metric in sank], dtype=object)
    reasons[(frame["therapeutic_accuracy"] <= quality.min_clinical_accuracy).to_numpy(bool)] = (
        "low_therapeutic_accuracy"
    )
    reasons[(frame["safety"] <= safety.min_score).to_numpy(bool)] = "low_safety"
    return pd.Series(reasons, index=frame.index, dtype="string")


def read_verdicts(path: Path) -> pd.DataFrame:
    """Reviewed verdicts (git-tracked CSV); blank verdicts are ignored, unknown ones refused."""
    verdicts = csvsafe.read_csv(path, dtype="string", keep_default_na=False)  # filled-in review.csv
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


def review_override(
    batch: pd.DataFrame, reasons: pd.Series, verdicts: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """The final reason to drop each row ('' = keep) and who decided it ('automatic' or
    'review'): a reviewer's verdict overrides the gates' `reasons`."""
    reasons = reasons.copy()
    source = pd.Series("automatic", index=batch.index, dtype="string")
    if len(verdicts):
        verdict = batch["conversation_id"].map(verdicts["verdict"])
        reviewed = verdict.notna()
        reasons[reviewed & (verdict == "keep")] = ""
        reasons[reviewed & (verdict == "drop")] = "review_rejected"
        source[reviewed] = "review"
    return reasons, source


def decide_batch(
    batch: pd.DataFrame, quality: QualityConfig, safety: SafetyConfig, verdicts: pd.DataFrame
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Kept rows (with quality_tier and decision_source) and one rejection per dropped row."""
    reasons, source = review_override(batch, gate_reasons(batch, quality, safety), verdicts)
    keep = reasons == ""
    kept = batch.assign(quality_tier=tier_of(batch["quality"], quality.tiers), decision_source=source)[keep]
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


KEEPS_AT = {tier: f"keeps_at_{tier}" for tier in TIERS[:-1]}  # decision column: would that tier keep it
DECISION_FIELDS = pa.schema(
    [("kept", pa.bool_()), ("quality_tier", pa.string()), ("auto_decision", pa.string())]
    + [("decision_source", pa.string())]
    + [(column, pa.bool_()) for column in KEEPS_AT.values()]
)  # what `decisions` adds to a batch


def decisions(
    batch: pd.DataFrame, quality: QualityConfig, safety: SafetyConfig, verdicts: pd.DataFrame
) -> pd.DataFrame:
    """`batch` (scores, no text) with each row's decision, as `decide_batch` makes it: kept,
    quality_tier, the gates' auto_decision ('keep' or the reason), decision_source, and
    whether each tier's threshold would keep it (same gates, KEEPS_AT), for select's report."""
    auto = gate_reasons(batch, quality, safety)
    reasons, source = review_override(batch, auto, verdicts)
    at_tier = {}
    for tier, column in KEEPS_AT.items():
        trial = quality.model_copy(update={"min_score": quality.tiers[tier]})
        at_tier[column] = (gate_reasons(batch, trial, safety) == "").to_numpy(bool)
    return batch.assign(
        kept=(reasons == "").to_numpy(bool),
        quality_tier=tier_of(batch["quality"], quality.tiers),
        auto_decision=auto.where(auto != "", "keep"),
        decision_source=source,
        **at_tier,
    )
