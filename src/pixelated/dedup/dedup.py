"""dedup: remove exact, near (MinHash LSH) and semantic (MiniLM) duplicate conversations.

Two passes over the input: features (mapped over the executor) feed the cascade, which
writes the cluster table; then every conversation is kept or quarantined by that table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from pydantic import Field

from pixelated.core.config import Config, EmbedConfig, ExecutorConfig, ValidateConfig
from pixelated.core.embed import EmbeddingCache
from pixelated.core.ledger import row_rejection
from pixelated.core.runner import BatchResult, Output, run_shards, table_shards
from pixelated.core.schema import CONVERSATION_SCHEMA, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import find_duplicates
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
    with ValidatedWriter(paths.clusters, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema) as writer:
        writer.write(result.clusters)
    run_shards(
        "dedup",
        partial(keep_or_quarantine, removed_rows(result.clusters)),
        table_shards(paths.input, cfg.executor.batch_size),
        outputs=Output(paths.output, CONVERSATION_SCHEMA, canonical_schema(cfg.validate_.max_turn_chars)),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        config=cfg,
        inputs=[paths.input],
        total=len(features),
    )
    _write_json(paths.report, summarize(result, features, cfg.dedup))
    semantic = cfg.dedup.semantic.enabled
    # its hits and misses go to reports/resources.json: a re-run with unchanged input embeds 0
    cache.save(keep=features.all_side_texts() if semantic else None)


def keep_or_quarantine(removed: pd.DataFrame, batch: pd.DataFrame) -> BatchResult:
    """Keep the conversations their cluster keeps; those in `removed` (by conversation id, with
    method, keeper and cluster: only they, so each worker holds no row per kept conversation)
    go to quarantine, with their keeper."""
    at = removed.index.get_indexer(batch["conversation_id"])  # the index's hash table, built once
    keep = at < 0
    rows = removed.iloc[at[~keep]]
    rejections = [
        row_rejection(
            row,
            f"duplicate_{info.method}",
            f"{info.method} duplicate of {info.kept_id} (cluster {info.cluster_id})",
        )
        for (_, row), info in zip(batch[~keep].iterrows(), rows.itertuples(), strict=True)
    ]
    return BatchResult(batch["source"], batch[keep].reset_index(drop=True), rejections)


def removed_rows(clusters: pd.DataFrame) -> pd.DataFrame:
    """What the keep-or-quarantine pass needs of the conversations dedup removes."""
    removed = clusters[~clusters["kept"]]
    return removed.set_index("conversation_id")[["method", "kept_id", "cluster_id"]]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
