"""select: keep conversations that pass the safety gate, the clinical-accuracy gate and the
chosen quality tier (reviewer verdicts override); export the clinician review set and the
bias report. Cheap: reads the scores, never recomputes them."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from duckdb import DuckDBPyConnection
from pydantic import Field

from pixelated.core import sql
from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import SCORED_SCHEMA, SELECTED_SCHEMA, selected_schema
from pixelated.core.tableio import read_batches
from pixelated.core.validation import canonical_schema
from pixelated.scoring.config import QualityConfig, SafetyConfig
from pixelated.scoring.metrics import DECISION_COLUMNS, METRICS
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
    with decision_table(paths.input, cfg, verdicts) as decisions:
        fraction = cfg.review.sample_fraction
        sample = review.review_sample(decisions, fraction, cfg.review.seed, cfg.safety.min_score)
        batches = review.review_batches(sample, paths.input, cfg.executor.batch_size)
        review.write_review(paths.review, sample, batches, verdicts, METRICS, fraction)
        metrics = select_metrics(decisions, sample, ledger.rows_out, cfg)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


@contextmanager
def decision_table(scored: Path, cfg: SelectConfig, verdicts: pd.DataFrame) -> Iterator[DuckDBPyConnection]:
    """A DuckDB connection whose view `decisions` holds every scored row's scores and bias
    groups (no text) with its decision (`gates.decisions`), for the report and the review
    sample. The rows are decided a batch at a time into a temporary Parquet file that the
    SQL reads, so select holds no column per conversation (issue 14).

    This pass decides every row again rather than collecting the decisions of the filtering
    pass: a resumed run skips the shards an earlier one finished, so that pass may not see
    every row. Reading only the score columns, it is the cheaper of the two."""
    columns = [*DECISION_COLUMNS, *cfg.review.bias_columns]
    schema = pa.schema([*(SCORED_SCHEMA.field(name) for name in columns), *gates.DECISION_FIELDS])
    with tempfile.TemporaryDirectory(prefix="decisions-") as folder:
        path = Path(folder) / "decisions.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for batch in read_batches(scored, cfg.executor.batch_size, columns):
                decided = gates.decisions(batch, cfg.quality, cfg.safety, verdicts)
                writer.write_table(pa.Table.from_pandas(decided, schema=schema, preserve_index=False))
        with sql.connect(cfg.executor.n_workers) as con:
            con.read_parquet(str(path)).create_view("decisions")
            yield con


_KEEPS_AT_COUNTS = ", ".join(f"count_if({column})" for column in gates.KEEPS_AT.values())  # per tier


def select_metrics(decisions: DuckDBPyConnection, sample: pd.DataFrame, kept: int, cfg: SelectConfig) -> dict:
    """reports/select.json: what was kept, by tier and at every tier, per source, the review set,
    the bias report."""
    (would_keep,) = decisions.sql(f"SELECT {_KEEPS_AT_COUNTS} FROM decisions").fetchall()
    kept_by_tier = decisions.sql("SELECT quality_tier, count(*) FROM decisions WHERE kept GROUP BY ALL")
    ((reviewed,),) = decisions.sql("SELECT count_if(decision_source = 'review') FROM decisions").fetchall()
    return {
        "tier": cfg.quality.tier,
        "min_score": cfg.quality.min_score,
        "kept": kept,
        "kept_by_tier": dict(sorted(kept_by_tier.fetchall())),
        "would_keep_at_tier": dict(zip(gates.KEEPS_AT, would_keep, strict=True)),
        "by_source": source_rates(decisions),
        "review": {
            "conversations": len(sample),
            "by_reason": sample["review_reason"].value_counts().sort_index().to_dict(),
            "verdicts_applied": reviewed,
        },
        "bias": bias.bias_report(
            decisions, cfg.review.bias_columns, cfg.review.bias_min_group, cfg.review.bias_max_relative_gap
        ),
    }


TOP_DROP_REASONS = 3


def source_rates(decisions: DuckDBPyConnection) -> dict:
    """Per source: conversations scored and kept, the keep rate at the chosen tier and at every
    tier (same gates), and the commonest drop reasons: where a scoring bias against one
    conversation shape (a single written answer, a long chat) shows first."""
    counts = decisions.sql(
        f"SELECT source, count(*), count_if(kept), {_KEEPS_AT_COUNTS} FROM decisions GROUP BY ALL"
    )
    drops = decisions.sql(
        "SELECT source, CASE WHEN auto_decision = 'keep' THEN 'review_rejected' ELSE auto_decision END,"
        " count(*) FROM decisions WHERE NOT kept GROUP BY ALL"
    )
    reasons = defaultdict(list)
    for source, reason, count in drops.fetchall():
        reasons[source].append((reason, count))
    rates = {}
    for source, n, kept, *at_tier in counts.fetchall():
        top = sorted(reasons[source], key=lambda item: (-item[1], item[0]))[:TOP_DROP_REASONS]
        rates[source] = {
            "scored": n,
            "kept": kept,
            "keep_rate": round(kept / n, 4),
            "keep_rate_at_tier": {
                tier: round(count / n, 4) for tier, count in zip(gates.KEEPS_AT, at_tier, strict=True)
            },
            "top_drop_reasons": dict(top),
        }
    return rates
