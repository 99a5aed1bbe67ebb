"""score: measure every conversation (six sub-metrics, overall quality, safety, crisis flags)
and how far the scores agree with human judgement. Deciding what to keep is `select`'s job.

One pass, shard by shard. The scorer models `train_scorers` wrote are loaded once (the work a
NeMo Curator stage does in `setup`). For each batch, the main process measures the turns and
computes each conversation's Evidence: vectors of its distinct turn texts (through the
persistent cache, a part per shard), behaviour codes and empathy levels. The pure
`score_batch` maps over the batches with the configured executor and the scored table is
written, validated. Memory holds the batches in flight and the shard's text keys (its vectors
wait on disk); across shards, the stage keeps only the per-conversation figures the report needs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from pydantic import Field

from pixelated.core import resources, sql
from pixelated.core.config import Config, EmbedConfig, ExecutorConfig, ValidateConfig
from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.core.runner import BatchResult, Output, run_shards, table_shards
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.shards import Shard, part_path, parts, prepare_folder, remove_beyond
from pixelated.core.tableio import count_rows, to_pandas
from pixelated.core.validation import canonical_schema
from pixelated.scoring import agreement, crisis_eval
from pixelated.scoring.behaviour import code_units
from pixelated.scoring.checks import EmpathyTransfer, MitiSummaries
from pixelated.scoring.config import QualityConfig
from pixelated.scoring.metrics import METRICS, Evidence, score_batch
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
    """Each conversation's measured turns, source and mean seeker feedback."""

    mturns: dict[str, list[MTurn]] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    feedback: dict[str, float] = field(default_factory=dict)


def measure(batches: Iterable[pd.DataFrame]) -> Measured:
    """Measured turns, source and mean seeker feedback of every conversation in `batches`."""
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
    """What a batch's Evidence is made from: its measured texts' vectors and the trained
    scorers (behaviour codes, EPITOME empathy heads)."""

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


class ShardedScoring:
    """The pass over the input, shard by shard; the runner's `ShardStats`.

    When a shard starts, its part of the turn-embedding cache is loaded; after it, the part is
    saved holding exactly that shard's texts. A shard an earlier run finished is read again
    for the report's figures (its vectors are all in its part) and left as it is."""

    def __init__(self, cache: Path, backend: str, scorers: Scorers):
        prepare_folder(cache)  # a single-file cache of the earlier layout is dropped
        self.cache, self.backend, self.scorers = cache, backend, scorers
        self.feedback: dict[str, float] = {}  # mean seeker feedback where there is one (ESConv)
        self.miti = MitiSummaries()
        self.transfer = EmpathyTransfer()
        self.shards = self.hits = self.embedded = 0
        self._vectors: EmbeddingCache | None = None
        self._keys: list[np.ndarray] = []  # the shard's text keys, 8 bytes a text, not its texts

    def payloads(self, index: int, batches: Iterable[pd.DataFrame]) -> Iterator[tuple]:
        """Shard `index`'s batches, each with its conversations' Evidence (`score_batch`'s input)."""
        self._vectors = EmbeddingCache(part_path(self.cache, index), backend=self.backend)
        self._keys = []
        for batch in batches:
            measured = measure([batch])
            model = prepare(measured.mturns, self._vectors, self.scorers)
            self._keys.append(self._vectors.keys(model.vector_of))
            item = model.arrays(batch)
            self._record(measured, item[1])
            yield item

    def _record(self, measured: Measured, evidence: list[Evidence]) -> None:
        """What the report reads of a batch beside the scored table: seeker feedback where
        there is one, MITI summary scores and the empathy levels of ESConv's strategy-labelled
        helper turns."""
        self.feedback.update((cid, value) for cid, value in measured.feedback.items() if not np.isnan(value))
        for (cid, turns), found in zip(measured.mturns.items(), evidence, strict=True):
            self.miti.add(found.codes, measured.source[cid])
            helpers = [t for t in turns if t.role == "helper"]
            for turn, levels in zip(helpers, found.empathy, strict=True):
                if turn.strategy:
                    self.transfer.add(turn.text, turn.strategy, levels)

    def take(self) -> dict:
        """After a shard: save its cache part, pruned to its texts."""
        self._vectors.save(keep=np.concatenate(self._keys or [np.zeros(0, np.uint64)]))
        self._finish()
        return {}

    def replay(self, counts: dict, shard: Shard) -> None:
        """A shard an earlier run finished: read again for the report (its part is kept)."""
        for _ in self.payloads(shard.index, shard.payloads):
            pass
        self._finish()

    def _finish(self) -> None:
        self.hits, self.embedded = self.hits + self._vectors.hits, self.embedded + self._vectors.misses
        self._vectors, self._keys, self.shards = None, [], self.shards + 1

    def close(self) -> None:
        """Drop the cache parts of shards this input no longer has; note the cache's counts."""
        remove_beyond(self.cache, self.shards)
        resources.note(embedding_cache_hits=self.hits, embedded=self.embedded)


def run(cfg: ScoreConfig, paths: ScorePaths) -> None:
    started = time.perf_counter()
    scoring = ShardedScoring(paths.cache, cfg.embed.backend, Scorers.load(paths.scorers))
    shards = (
        Shard(shard.index, scoring.payloads(shard.index, shard.payloads))
        for shard in table_shards(paths.input, cfg.executor.batch_size)
    )
    schema = scored_schema(canonical_schema(cfg.validate_.max_turn_chars))
    counts = run_shards(
        "score",
        partial(scored_batch, weights=cfg.quality.weights),
        shards,
        outputs=Output(paths.output, SCORED_SCHEMA, schema),
        quarantine=None,
        ledger=None,
        config=cfg,
        inputs=[paths.input, paths.scorers],
        total=count_rows(paths.input),
        stats=scoring,
    )
    scoring.close()
    elapsed = time.perf_counter() - started
    log.info(
        "scored %d conversations in %.0fs (%.1f/s; %d turn texts embedded, %d from the cache)",
        counts.rows_out, elapsed, counts.rows_out / max(elapsed, 1e-9), scoring.embedded, scoring.hits,
    )  # fmt: skip
    evaluated = crisis_eval.evaluate(paths.labels, paths.labelled_from, cfg.executor.batch_size)
    with sql.connect(cfg.executor.n_workers) as scores:
        scores.read_parquet([str(part) for part in parts(paths.output)]).create_view("scores")
        report = quality_report(scores, scoring.feedback, evaluated, cfg.quality)
    report["empathy_transfer_esconv"] = scoring.transfer.report()
    report["miti_by_source"] = scoring.miti.report()
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def scored_batch(item: tuple, weights: dict[str, float]) -> BatchResult:
    """`score_batch` as the runner maps it: every row in is a row out."""
    scored = score_batch(item, weights)
    return BatchResult(scored["source"], scored)


def quality_report(
    scores: DuckDBPyConnection,
    feedback_by_id: dict[str, float],
    evaluated: dict,
    quality: QualityConfig,
) -> dict:
    """reports/quality.json: distributions, agreement with human judgement, crisis flags with
    the detector's accuracy (frozen test set; development set apart) and the safety-drop review,
    the referral check's accuracy and the lowest-scoring
    conversations (`evaluated`: crisis_eval.report's blocks; `feedback_by_id`: the mean seeker
    feedback of the conversations that have one).

    `scores` is a DuckDB connection with the scored table as the view `scores`: the report is
    SQL over it, and holds in memory only the human-rated sources' scores, which the rank
    statistics and their bootstrap resample, and the lowest-scoring rows."""
    sizes = dict(scores.sql("SELECT source, count(*) FROM scores GROUP BY ALL").fetchall())
    ((flagged,),) = scores.sql("SELECT count_if(crisis_kinds <> '') FROM scores").fetchall()
    rated = _rated(scores, list(sizes), quality)
    feedback = rated["conversation_id"].map(feedback_by_id).astype(float)
    lowest = scores.sql(
        f"SELECT {', '.join(SCORE_COLUMNS)} FROM scores ORDER BY quality, conversation_id LIMIT $n",
        params={"n": quality.error_analysis_rows},
    )
    return {
        "conversations": sum(sizes.values()),
        "distribution": {
            m: agreement.distribution(scores, "scores", m)[None] for m in (*METRICS, "quality", "safety")
        },
        "by_source": {
            source: {"n": sizes[source], **quality_of}
            for source, quality_of in agreement.distribution(scores, "scores", "quality", "source").items()
        },
        "agreement": {
            "rejected_vs_accepted": agreement.rejected_vs_accepted_auc(
                rated, quality.accepted_source, quality.rejected_source
            ),
            "spearman": agreement.human_agreement(rated, feedback),
        },
        "crisis": {
            "conversations_flagged": flagged,
            "by_kind": _kind_counts(scores),
            **evaluated["crisis"],
        },
        "referral": evaluated["referral"],
        "error_analysis": agreement.error_analysis(
            to_pandas(lowest.to_arrow_table()), quality.weights, quality.error_analysis_rows
        ),
    }


SCORE_COLUMNS = ("conversation_id", "source", *METRICS, "quality", "safety")  # what agreement reads


def _rated(scores: DuckDBPyConnection, sources: list[str], quality: QualityConfig) -> pd.DataFrame:
    """The scores and human ratings of the human-rated sources' conversations, in the table's
    order (the bootstrap's draws pick rows by place)."""
    rated = agreement.rated_sources(sources, quality.accepted_source, quality.rejected_source)
    rows = scores.sql(
        f"SELECT {', '.join((*SCORE_COLUMNS, *agreement.HUMAN_RATINGS))} FROM scores"
        " WHERE list_contains($sources, source)",
        params={"sources": rated},
    )
    return to_pandas(rows.to_arrow_table())


def _kind_counts(scores: DuckDBPyConnection) -> dict[str, int]:
    """Crisis flags per kind (a conversation's kinds are comma-separated)."""
    kinds = scores.sql(
        "SELECT kind, count(*) FROM (SELECT unnest(string_split(crisis_kinds, ',')) AS kind"
        " FROM scores WHERE crisis_kinds <> '') GROUP BY ALL"
    )
    return dict(sorted(kinds.fetchall()))
