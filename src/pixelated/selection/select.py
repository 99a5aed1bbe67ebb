"""select: keep conversations that pass the safety gate, the clinical-accuracy gate and the
chosen quality tier (reviewer verdicts override); export the clinician review set and the
bias report. Cheap: reads the scores, never recomputes them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import SELECTED_SCHEMA, selected_schema
from pixelated.core.validation import canonical_schema
from pixelated.scoring.config import QualityConfig, SafetyConfig
from pixelated.scoring.metrics import METRICS, read_scores
from pixelated.selection import bias, gates, review


@dataclass(frozen=True)
class SelectPaths:
    input: Path
    verdicts: Path
    output: Path
    quarantine: Path
    ledger: Path
    review: Path
    metrics: Path


class ReviewConfig(Config):
    """The clinician review sample and the bias report's thresholds."""

    sample_fraction: float = Field(gt=0, le=1)
    seed: int
    bias_columns: list[str]
    bias_max_relative_gap: float = Field(ge=0)
    bias_min_group: int = Field(ge=1)


class SelectConfig(Config):
    quality: QualityConfig
    safety: SafetyConfig
    review: ReviewConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


def run(cfg: SelectConfig, paths: SelectPaths) -> None:
    verdicts = gates.read_verdicts(paths.verdicts)
    ledger = filter_table(
        "select",
        partial(gates.decide_batch, quality=cfg.quality, safety=cfg.safety, verdicts=verdicts),
        TablePaths(paths.input, paths.output, paths.quarantine, paths.ledger),
        schema=SELECTED_SCHEMA,
        check=selected_schema(canonical_schema(cfg.validate_.max_turn_chars)),
        config=cfg,
        inputs=[paths.verdicts],
    )
    scores = decisions(paths.input, paths.output, cfg)
    sample = review.review_sample(scores, cfg.review.sample_fraction, cfg.review.seed, cfg.safety.min_score)
    batches = review.review_batches(sample, paths.input, cfg.executor.batch_size)
    review.write_review(paths.review, sample, batches, verdicts, METRICS, cfg.review.sample_fraction)
    metrics = select_metrics(scores, sample, verdicts, ledger.rows_out, cfg)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def decisions(scored: Path, selected: Path, cfg: SelectConfig) -> pd.DataFrame:
    """Every scored row's scores and bias groups (no text) with its decision: kept, tier,
    automatic reason."""
    scores = read_scores(scored, extra=cfg.review.bias_columns)
    kept_ids = pq.read_table(selected, columns=["conversation_id"]).column(0)
    ids = pa.array(scores["conversation_id"], pa.string())
    scores["kept"] = pc.is_in(ids, value_set=kept_ids).to_numpy(zero_copy_only=False)
    scores["quality_tier"] = gates.tier_of(scores["quality"], cfg.quality.tiers)
    reasons = gates.gate_reasons(scores, cfg.quality, cfg.safety)
    scores["auto_decision"] = reasons.where(reasons != "", "keep")
    return scores


def select_metrics(
    scores: pd.DataFrame, sample: pd.DataFrame, verdicts: pd.DataFrame, kept: int, cfg: SelectConfig
) -> dict:
    """reports/select.json: what was kept, by tier and at every tier, per source, the review set,
    the bias report."""
    return {
        "tier": cfg.quality.tier,
        "min_score": cfg.quality.min_score,
        "kept": kept,
        "kept_by_tier": scores[scores["kept"]]["quality_tier"].value_counts().sort_index().to_dict(),
        "would_keep_at_tier": gates.tier_counts(scores, cfg.quality, cfg.safety),
        "by_source": source_rates(scores, cfg),
        "review": {
            "conversations": len(sample),
            "by_reason": sample["review_reason"].value_counts().sort_index().to_dict(),
            "verdicts_applied": int(scores["conversation_id"].isin(verdicts.index).sum()),
        },
        "bias": bias.bias_report(
            scores, cfg.review.bias_columns, cfg.review.bias_min_group, cfg.review.bias_max_relative_gap
        ),
    }


TOP_DROP_REASONS = 3


def source_rates(scores: pd.DataFrame, cfg: SelectConfig) -> dict:
    """Per source: conversations scored and kept, the keep rate at the chosen tier and at every
    tier (same gates), and the commonest drop reasons: where a scoring bias against one
    conversation shape (a single written answer, a long chat) shows first."""
    dropped = scores["auto_decision"].where(scores["auto_decision"] != "keep", "review_rejected")
    rates = {}
    for source, group in scores.groupby("source", sort=True):
        n = len(group)
        at_tier = gates.tier_counts(group, cfg.quality, cfg.safety)
        reasons = dropped[group.index[~group["kept"]]].value_counts()
        top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_DROP_REASONS]
        rates[source] = {
            "scored": n,
            "kept": int(group["kept"].sum()),
            "keep_rate": round(float(group["kept"].mean()), 4),
            "keep_rate_at_tier": {tier: round(count / n, 4) for tier, count in at_tier.items()},
            "top_drop_reasons": {str(reason): int(count) for reason, count in top},
        }
    return rates
