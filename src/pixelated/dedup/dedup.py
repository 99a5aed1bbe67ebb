"""dedup: remove exact, near (MinHash LSH) and semantic (MiniLM) duplicate conversations.

Two passes over the input: features (mapped over the executor) feed the cascade, which
writes the cluster table; then every conversation is kept or quarantined by that table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from pixelated.core.config import Config, EmbedConfig, ExecutorConfig, ValidateConfig
from pixelated.core.embed import EmbeddingCache
from pixelated.core.ledger import row_rejection
from pixelated.core.runner import BatchResult, Output, run_shards
from pixelated.core.schema import CONVERSATION_SCHEMA, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema
from pixelated.core.shards import Shard, input_shards, parts
from pixelated.core.tableio import RowCursor, ValidatedWriter, count_rows, read_batches
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import find_duplicates
from pixelated.dedup.clusters import ClusterTable
from pixelated.dedup.config import DedupConfig
from pixelated.dedup.features import features_fn, table_features
from pixelated.dedup.report import summarize
from pixelated.dedup.store import Features


class DedupStageConfig(Config):
    dedup: DedupConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()
    embed: EmbedConfig = EmbedConfig()


@dataclass(frozen=True)
class DedupPaths:
    input: Path
    output: Path
    clusters: Path  # conversation -> cluster, group, kept, method: split reads group_id
    quarantine: Path
    ledger: Path
    report: Path
    cache: Path  # the embedding cache, a persistent DVC out


def run(cfg: DedupStageConfig, paths: DedupPaths) -> None:
    with table_features(paths.input, features_fn(cfg.dedup), cfg.executor) as features:
        _deduplicate(cfg, paths, features)


def _deduplicate(cfg: DedupStageConfig, paths: DedupPaths, features: Features) -> None:
    """Cluster, write the cluster table, keep or quarantine every conversation, report."""
    # the cache is a persistent DVC out: loaded, extended, and pruned to the texts in use
    cache = EmbeddingCache(paths.cache, batch_size=cfg.dedup.semantic.batch_size, backend=cfg.embed.backend)
    result = find_duplicates(features, cfg.dedup, cache)
    with ClusterTable(result) as table:
        with ValidatedWriter(paths.clusters, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema) as writer:
            for frame in table.frames():
                writer.write(frame)
        report = summarize(table, result, cfg.dedup)
    run_shards(
        "dedup",
        keep_or_quarantine,
        decided_shards(paths.input, paths.clusters, cfg.executor.batch_size),
        outputs=Output(paths.output, CONVERSATION_SCHEMA, canonical_schema(cfg.validate_.max_turn_chars)),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        config=cfg,
        inputs=[paths.input],
        total=len(features),
    )
    _write_json(paths.report, report)
    semantic = cfg.dedup.semantic.enabled
    # its hits and misses go to reports/resources.json: a re-run with unchanged input embeds 0
    cache.save(keep=cache.keys(features.all_side_texts()) if semantic else None)


DECISION_COLUMNS = ["conversation_id", "kept", "method", "kept_id", "cluster_id"]


def decided_shards(path: Path, clusters: Path, batch_size: int) -> Iterator[Shard]:
    """The input's shards, each batch paired with its own rows of the cluster table (both are
    in input order), so a worker gets the decisions of its batch and of nothing else."""
    files = parts(path)
    sizes = [count_rows(part) for part in files]
    first_rows = dict(zip(files, np.cumsum(sizes) - sizes, strict=True))
    return input_shards(path, partial(_decided_batches, clusters, first_rows, batch_size))


def _decided_batches(clusters: Path, first_rows: dict, batch_size: int, part: Path) -> Iterator[tuple]:
    decisions = RowCursor(clusters, int(first_rows[part]), DECISION_COLUMNS)
    for batch in read_batches(part, batch_size):
        yield batch, decisions.take(len(batch))


def keep_or_quarantine(payload: tuple[pd.DataFrame, pd.DataFrame]) -> BatchResult:
    """Keep the conversations their cluster keeps; the others go to quarantine, with their
    keeper. `payload` is a batch and its rows of the cluster table (`decided_shards`)."""
    batch, decisions = payload
    if not np.array_equal(batch["conversation_id"].to_numpy(), decisions["conversation_id"].to_numpy()):
        raise RuntimeError("dedup: the cluster table is out of step with the input (rows differ)")
    keep = decisions["kept"].to_numpy(bool)
    rejections = [
        row_rejection(
            row,
            f"duplicate_{info.method}",
            f"{info.method} duplicate of {info.kept_id} (cluster {info.cluster_id})",
        )
        for (_, row), info in zip(batch[~keep].iterrows(), decisions[~keep].itertuples(), strict=True)
    ]
    return BatchResult(batch["source"], batch[keep].reset_index(drop=True), rejections)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
