"""score: measure every conversation (six sub-metrics, overall quality, safety, crisis flags)
and how far the scores agree with human judgement. Deciding what to keep is `select`'s job.

Two passes over the table. Pass 1 measures every conversation's turns, embeds each distinct
turn text once (through the persistent cache) and loads the scorer models `train_scorers`
wrote: the work a NeMo Curator stage does in `setup`, once, not per batch. Pass 2 maps the pure `score_batch`
over batches with the configured executor and writes the scored table, validated.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from pixelated.core.config import Config, EmbedConfig, ExecutorConfig, ValidateConfig
from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.core.progress import progress
from pixelated.core.runner import BatchResult, Output, run_shards, table_shards
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.shards import Shard
from pixelated.core.tableio import count_rows, read_batches
from pixelated.core.validation import canonical_schema
from pixelated.scoring import agreement, crisis_eval
from pixelated.scoring.behaviour import code_units
from pixelated.scoring.checks import empathy_transfer, miti_by_source
from pixelated.scoring.config import QualityConfig
from pixelated.scoring.metrics import METRICS, Evidence, read_scores, score_batch
from pixelated.scoring.scorers import Scorers
from pixelated.scoring.turns import MTurn, measurement_turns

log = logging.getLogger("pixelated.score")


@dataclass(frozen=True)
class ScorePaths:
    input: Path
    output: Path
    metrics: Path
    cache: Path
    labels: Path  # data/labels/: crisis test and development sets, referral replies, drop review
    labelled_from: Path  # the anonymized table, before dedup: holds every labelled turn's text
    scorers: Path  # the trained scorer models (train_scorers), which the service scores with too


class ScoreConfig(Config):
    quality: QualityConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()
    embed: EmbedConfig = EmbedConfig()


@dataclass
class Measured:
    """Pass 1 over the table: each conversation's measured turns, source and mean seeker feedback."""

    mturns: dict[str, list[MTurn]] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    feedback: dict[str, float] = field(default_factory=dict)


def measure(batches: Iterable[pd.DataFrame]) -> Measured:
    """Measured turns, source and mean seeker feedback of every conversation."""
    measured = Measured()
    for batch in batches:
        measured.source.update(zip(batch["conversation_id"], batch["source"], strict=True))
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            measured.mturns[cid] = measurement_turns(turns)
        measured.feedback.update(
            zip(batch["conversation_id"], agreement.seeker_feedback_mean(batch["turns"]), strict=True)
        )
    return measured


@dataclass(frozen=True)
class TurnModel:
    """What pass 2 needs from pass 1: every measured text's vector and the trained scorers
    (behaviour codes, EPITOME empathy heads)."""

    mturns: dict[str, list[MTurn]]
    vector_of: dict[str, np.ndarray]
    scorers: Scorers

    def helper_codes(self, cid: str) -> np.ndarray:
        """MITI code probabilities of the conversation's helper sentences (units x CODES)."""
        turns = self.mturns[cid]
        helper = [i for i, t in enumerate(turns) if t.role == "helper"]
        seeker_texts = [
            turns[j].text if j is not None else None for j in map(partial(_seeker_before, turns), helper)
        ]
        return code_units(self.scorers.codes, [turns[i].text for i in helper], seeker_texts)

    def evidence(self, cid: str) -> Evidence:
        """The vectors, behaviour codes and empathy levels `score_batch` reads for one conversation."""
        turns = self.mturns[cid]
        vectors = (
            np.stack([self.vector_of[t.text] for t in turns])
            if turns
            else np.zeros((0, DIMENSION), np.float32)
        )
        empathy = self.scorers.empathy.expected_levels([t.text for t in turns if t.role == "helper"])
        return Evidence(vectors, self.helper_codes(cid), empathy)

    def strategy_turns(self) -> list[tuple[str, str]]:
        """Every helper turn with an ESConv strategy: (text, canonical strategy)."""
        return [
            (turn.text, turn.strategy)
            for turns in self.mturns.values()
            for turn in turns
            if turn.role == "helper" and turn.strategy
        ]

    def arrays(self, batch: pd.DataFrame) -> tuple[pd.DataFrame, list[Evidence]]:
        """`score_batch`'s input: the batch and each conversation's Evidence."""
        return batch, [self.evidence(cid) for cid in batch["conversation_id"]]


def _seeker_before(turns: list[MTurn], index: int) -> int | None:
    """The seeker turn a helper turn answers: the nearest before it, else the first after."""
    before = [j for j in range(index) if turns[j].role == "seeker"]
    after = [j for j in range(index + 1, len(turns)) if turns[j].role == "seeker"]
    return before[-1] if before else (after[0] if after else None)


def embed(mturns: dict[str, list[MTurn]], cache: EmbeddingCache) -> dict[str, np.ndarray]:
    """Each distinct measured text's vector, embedded once (through the cache)."""
    texts = sorted({t.text for turns in mturns.values() for t in turns})
    return dict(zip(texts, cache.encode(texts, desc="score embed turns"), strict=True))


def score_with(
    batch: pd.DataFrame, scorers: Scorers, cache: EmbeddingCache, weights: dict[str, float]
) -> pd.DataFrame:
    """Score a batch outside the stage (`pixelated score`, the service) with the trained
    scorers the stage reads: the stage's own measure, embed and `score_batch`."""
    return score_batch(prepare(measure([batch]).mturns, cache, scorers).arrays(batch), weights=weights)


def prepare(mturns: dict[str, list[MTurn]], cache: EmbeddingCache, scorers: Scorers | Path) -> TurnModel:
    """Embed each distinct measured text once (through the cache); load the trained scorers."""
    loaded = scorers if isinstance(scorers, Scorers) else Scorers.load(scorers)
    return TurnModel(mturns, embed(mturns, cache), loaded)


def run(cfg: ScoreConfig, paths: ScorePaths) -> None:
    started = time.perf_counter()
    batches = read_batches(paths.input, cfg.executor.batch_size)
    measured = measure(progress(batches, "score measure", count_rows(paths.input), unit="conv"))
    cache = EmbeddingCache(paths.cache, backend=cfg.embed.backend)
    model = prepare(measured.mturns, cache, paths.scorers)
    cache.save(keep=model.vector_of)
    embedded = time.perf_counter()
    log.info(
        "embedded %d turn texts and loaded the scorer models in %.0fs",
        len(model.vector_of),
        embedded - started,
    )
    rows = write_scores(cfg, model, paths.input, paths.output)
    elapsed = time.perf_counter() - started
    log.info(
        "scored %d conversations in %.0fs (%.1f/s; embedding and models %.0fs)",
        rows, elapsed, rows / max(elapsed, 1e-9), embedded - started,
    )  # fmt: skip
    evaluated = crisis_eval.evaluate(paths.labels, paths.labelled_from, cfg.executor.batch_size)
    report = quality_report(read_scores(paths.output), measured, evaluated, cfg.quality)
    report["empathy_transfer_esconv"] = empathy_transfer(model.scorers.empathy, model.strategy_turns())
    report["miti_by_source"] = miti_by_source(
        {c: model.helper_codes(c) for c in model.mturns}, measured.source
    )
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def write_scores(cfg: ScoreConfig, model: TurnModel, source: Path, output: Path) -> int:
    """Pass 2: score the input shard by shard with the configured executor; each output part
    is validated and written in order, and a rerun after a crash keeps the parts written."""
    shards = (
        Shard(shard.index, map(model.arrays, shard.payloads))
        for shard in table_shards(source, cfg.executor.batch_size)
    )
    counts = run_shards(
        "score",
        partial(scored_batch, weights=cfg.quality.weights),
        shards,
        outputs=Output(output, SCORED_SCHEMA, scored_schema(canonical_schema(cfg.validate_.max_turn_chars))),
        quarantine=None,
        ledger=None,
        config=cfg,
        inputs=[source],  # the turn model is fitted on it all
        total=count_rows(source),
    )
    return counts.rows_out


def scored_batch(item: tuple, weights: dict[str, float]) -> BatchResult:
    """`score_batch` as the runner maps it: every row in is a row out."""
    scored = score_batch(item, weights)
    return BatchResult(scored["source"], scored)


def quality_report(
    scores: pd.DataFrame,
    measured: Measured,
    evaluated: dict,
    quality: QualityConfig,
) -> dict:
    """reports/quality.json: distributions, agreement with human judgement, crisis flags with
    the detector's accuracy (frozen test set; development set apart) and the safety-drop review,
    the referral check's accuracy and the lowest-scoring
    conversations (`evaluated`: crisis_eval.report's blocks)."""
    feedback = scores["conversation_id"].map(measured.feedback).astype(float)
    return {
        "conversations": len(scores),
        "distribution": {m: agreement.distribution(scores[m]) for m in (*METRICS, "quality", "safety")},
        "by_source": {
            source: {"n": len(part), **agreement.distribution(part["quality"])}
            for source, part in scores.groupby("source", sort=True)
        },
        "agreement": {
            "rejected_vs_accepted": agreement.rejected_vs_accepted_auc(
                scores, quality.accepted_source, quality.rejected_source
            ),
            "spearman": agreement.human_agreement(scores, feedback),
        },
        "crisis": {
            "conversations_flagged": int((scores["crisis_kinds"] != "").sum()),
            "by_kind": _kind_counts(scores["crisis_kinds"]),
            **evaluated["crisis"],
        },
        "referral": evaluated["referral"],
        "error_analysis": agreement.error_analysis(scores, quality.weights, quality.error_analysis_rows),
    }


def _kind_counts(kinds: pd.Series) -> dict[str, int]:
    exploded = kinds[kinds != ""].str.split(",").explode()
    return {k: int(n) for k, n in exploded.value_counts().sort_index().items()}
