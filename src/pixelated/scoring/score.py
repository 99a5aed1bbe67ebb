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
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.core.executor import map_batches
from pixelated.core.runner import progress
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.tableio import ValidatedWriter, count_rows, read_batches
from pixelated.core.validation import canonical_schema
from pixelated.scoring import agreement
from pixelated.scoring.behaviour import CODES, CodeClassifier, code_units
from pixelated.scoring.checks import empathy_transfer, miti_by_source
from pixelated.scoring.config import QualityConfig
from pixelated.scoring.empathy import EMPATHY_FILE, EmpathyModel
from pixelated.scoring.metrics import METRICS, Evidence, read_scores, score_batch
from pixelated.scoring.turns import MTurn, measurement_turns

log = logging.getLogger("pixelated.score")


@dataclass(frozen=True)
class ScorePaths:
    input: Path
    output: Path
    metrics: Path
    cache: Path
    crisis_labels: Path
    scorers: Path


class ScoreConfig(Config):
    quality: QualityConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


@dataclass
class Measured:
    """Pass 1 over the table: each conversation's measured turns and mean seeker feedback, and
    the text of each labelled crisis turn found in this run (for the detector's evaluation)."""

    mturns: dict[str, list[MTurn]] = field(default_factory=dict)
    feedback: dict[str, float] = field(default_factory=dict)
    labelled_text: dict[tuple[str, int], str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)


def measure(batches: Iterable[pd.DataFrame], wanted: Collection[tuple[str, int]] = ()) -> Measured:
    """Measured turns of every conversation; `wanted` are the (conversation, turn) labels."""
    measured = Measured()
    for batch in batches:
        measured.source.update(zip(batch["conversation_id"], batch["source"], strict=True))
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            measured.mturns[cid] = measurement_turns(turns)
            for index, turn in enumerate(turns):
                if (cid, index) in wanted:
                    measured.labelled_text[(cid, index)] = turn["text"]
        measured.feedback.update(
            zip(batch["conversation_id"], agreement.seeker_feedback_mean(batch["turns"]), strict=True)
        )
    return measured


@dataclass(frozen=True)
class TurnModel:
    """What pass 2 needs from pass 1: every measured text's vector and the scorer models
    trained by `train_scorers` (behaviour codes, EPITOME empathy heads)."""

    mturns: dict[str, list[MTurn]]
    vector_of: dict[str, np.ndarray]
    codes: CodeClassifier
    empathy: EmpathyModel

    def helper_codes(self, cid: str) -> np.ndarray:
        """MITI code probabilities of the conversation's helper sentences (units x CODES)."""
        turns = self.mturns[cid]
        helper = [i for i, t in enumerate(turns) if t.role == "helper"]
        before = [_seeker_before(turns, i) for i in helper]
        seeker_texts = [turns[j].text if j is not None else None for j in before]
        return code_units(self.codes, [turns[i].text for i in helper], seeker_texts)

    def evidence(self, cid: str) -> Evidence:
        turns = self.mturns[cid]
        if not turns:
            return Evidence(np.zeros((0, DIMENSION), np.float32), np.zeros((0, len(CODES))), np.zeros((0, 3)))
        vectors = np.stack([self.vector_of[t.text] for t in turns])
        helper = [i for i, t in enumerate(turns) if t.role == "helper"]
        zero = np.zeros(DIMENSION, np.float32)
        seeker_vectors = [
            vectors[j] if j is not None else zero for j in (_seeker_before(turns, i) for i in helper)
        ]
        empathy = (
            self.empathy.expected_levels(np.stack(seeker_vectors), vectors[helper])
            if helper
            else np.zeros((0, 3))
        )
        return Evidence(vectors, self.helper_codes(cid), empathy)

    def strategy_turns(self) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
        """Every helper turn with an ESConv strategy: (text, seeker vector, helper vector, strategy)."""
        rows = []
        for turns in self.mturns.values():
            for i, turn in enumerate(turns):
                j = _seeker_before(turns, i) if turn.role == "helper" and turn.strategy else None
                if j is not None:
                    rows.append(
                        (turn.text, self.vector_of[turns[j].text], self.vector_of[turn.text], turn.strategy)
                    )
        return rows

    def arrays(self, batch: pd.DataFrame) -> tuple[pd.DataFrame, list[Evidence]]:
        """`score_batch`'s input: the batch and each conversation's Evidence."""
        return batch, [self.evidence(cid) for cid in batch["conversation_id"]]


def _seeker_before(turns: list[MTurn], index: int) -> int | None:
    """The seeker turn a helper turn answers: the nearest before it, else the first after."""
    before = [j for j in range(index) if turns[j].role == "seeker"]
    after = [j for j in range(index + 1, len(turns)) if turns[j].role == "seeker"]
    return before[-1] if before else (after[0] if after else None)


def prepare(mturns: dict[str, list[MTurn]], cache: EmbeddingCache, scorers: Path) -> TurnModel:
    """Embed each distinct measured text once; load the trained scorer models."""
    texts = sorted({t.text for turns in mturns.values() for t in turns})
    vector_of = dict(zip(texts, cache.encode(texts), strict=True))
    return TurnModel(
        mturns, vector_of, CodeClassifier.load(scorers), EmpathyModel.load(scorers / EMPATHY_FILE)
    )


def run(cfg: ScoreConfig, paths: ScorePaths) -> None:
    started = time.perf_counter()
    labels = agreement.read_crisis_labels(paths.crisis_labels)
    wanted = {(c, int(i)) for c, i in zip(labels["conversation_id"], labels["turn_index"], strict=True) if c}
    measured = measure(read_batches(paths.input, cfg.executor.batch_size), wanted)
    cache = EmbeddingCache(paths.cache)
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
        "scored %d conversations in %.0fs (%.1f/s; embedding and classifier %.0fs)",
        rows, elapsed, rows / max(elapsed, 1e-9), embedded - started,
    )  # fmt: skip
    report = quality_report(read_scores(paths.output), measured, labels, cfg.quality)
    report["empathy_transfer_esconv"] = empathy_transfer(model.empathy, model.strategy_turns())
    report["miti_by_source"] = miti_by_source(
        {c: model.helper_codes(c) for c in model.mturns}, measured.source
    )
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def write_scores(cfg: ScoreConfig, model: TurnModel, source: Path, output: Path) -> int:
    """Pass 2: score batches with the configured executor; write them validated, in order."""
    batch_size = cfg.executor.batch_size
    results = map_batches(
        partial(score_batch, weights=cfg.quality.weights),
        (model.arrays(batch) for batch in read_batches(source, batch_size)),
        kind=cfg.executor.kind,
        workers=cfg.executor.n_workers,
    )
    check = scored_schema(canonical_schema(cfg.validate_.max_turn_chars))
    with ValidatedWriter(output, SCORED_SCHEMA, check) as writer:
        for scored in progress(results, "score", total=-(-count_rows(source) // batch_size), unit="batch"):
            writer.write(scored)
    return writer.rows


def quality_report(
    scores: pd.DataFrame,
    measured: Measured,
    labels: pd.DataFrame,
    quality: QualityConfig,
) -> dict:
    """reports/quality.json: distributions, agreement with human judgement, crisis flags and
    the detector's accuracy, the strategy model's report and the lowest-scoring conversations."""
    feedback = scores["conversation_id"].map(measured.feedback).astype(float)
    cc, esconv = scores["source"] == "counsel_chat", scores["source"].str.startswith("esconv")
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
            "spearman_by_metric": {
                m: {
                    "counsel_chat_upvotes": agreement.spearman(scores[cc], m, scores.loc[cc, "upvotes"]),
                    "esconv_seeker_turn_feedback": agreement.spearman(scores[esconv], m, feedback[esconv]),
                }
                for m in (*METRICS, "safety")
            },
        },
        "crisis": {
            "conversations_flagged": int((scores["crisis_kinds"] != "").sum()),
            "by_kind": _kind_counts(scores["crisis_kinds"]),
            "detector": agreement.crisis_evaluation(labels, measured.labelled_text),
        },
        "error_analysis": agreement.error_analysis(scores, quality.weights, quality.error_analysis_rows),
    }


def _kind_counts(kinds: pd.Series) -> dict[str, int]:
    exploded = kinds[kinds != ""].str.split(",").explode()
    return {k: int(n) for k, n in exploded.value_counts().sort_index().items()}
