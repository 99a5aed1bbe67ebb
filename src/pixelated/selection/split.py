"""split: deterministic, group-aware, stratified splits (and CV folds for small datasets).

A group is everything that must stay on one side: a source thread (counsel-chat answers
to one question) joined with a dedup cluster when one is given. Groups are assigned within
each stratum (source x quality tier) to the split furthest below its target share, in an
order fixed by a seeded hash, so the same input and seed always give the same splits.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow.parquet as pq
from pydantic import AfterValidator, Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.hashing import seeded_key
from pixelated.core.runner import BatchResult, Output, run_batches
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLIT_ASSIGNMENT_SCHEMA, SPLITS, SplitAssignmentSchema
from pixelated.core.shards import parts
from pixelated.core.tableio import ValidatedWriter, read_batches, to_pandas
from pixelated.core.unionfind import UnionFind
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import near_duplicate_pairs
from pixelated.dedup.config import DedupConfig, NearConfig
from pixelated.dedup.features import conversation_features, table_features

KEY_COLUMNS = ["conversation_id", "source", "thread_id", "content_hash"]


def check_fractions(fractions: Sequence[float]) -> Sequence[float]:
    """The one check of split fractions: for params.yaml (ConfigError) and for `make_splits`."""
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions {list(fractions)} do not sum to 1")
    return fractions


class SplitConfig(Config):
    fractions: Annotated[tuple[float, float, float], AfterValidator(check_fractions)]  # train, val, test
    seed: int
    cv_folds: int = Field(ge=2)
    cv_below: int = Field(ge=0, description="CV folds only for datasets with fewer conversations")


class SplitStageConfig(Config):
    split: SplitConfig
    dedup: DedupConfig  # only `dedup.near`: the leakage check reuses dedup's MinHash settings
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


@dataclass(frozen=True)
class SplitPaths:
    input: Path
    output: Path  # folder for assignments.parquet and <split>.parquet
    clusters: Path  # dedup's cluster table, for group_id
    ledger: Path
    metrics: Path


def run(cfg: SplitStageConfig, paths: SplitPaths) -> None:
    # select adds quality_tier; split stratifies by source x tier
    tier = ["quality_tier"] if "quality_tier" in pq.read_schema(parts(paths.input)[0]).names else []
    keys = to_pandas(pq.read_table(paths.input, columns=KEY_COLUMNS + tier))
    clusters = to_pandas(pq.read_table(paths.clusters, columns=["conversation_id", "group_id"]))
    split = cfg.split
    assignments = make_splits(
        keys,
        split.fractions,
        split.seed,
        split.cv_folds,
        split.cv_below,
        cluster_groups=clusters.set_index("conversation_id")["group_id"],
    )
    paths.output.mkdir(parents=True, exist_ok=True)
    with ValidatedWriter(
        paths.output / "assignments.parquet", SPLIT_ASSIGNMENT_SCHEMA, SplitAssignmentSchema
    ) as writer:
        writer.write(assignments)
    written = write_splits(cfg, paths, assignments)
    metrics = {
        "conversations": {name: written[name] for name in SPLITS},
        "proportions": proportions(assignments, keys),
        "leakage": {
            **leakage(assignments, keys),
            "near_duplicate_pairs_across_splits": near_leakage(
                paths.input, assignments, cfg.dedup.near, cfg.executor
            ),
        },
        "cv_folds": int(assignments["fold"].nunique()),
        "groups": int(assignments["group"].nunique()),
    }
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def write_splits(cfg: SplitStageConfig, paths: SplitPaths, assignments: pd.DataFrame) -> Counter[str]:
    """Route every input conversation to `<split>.parquet`; the rows written per split."""
    check = canonical_schema(cfg.validate_.max_turn_chars)
    written: Counter[str] = Counter()
    run_batches(
        "split",
        partial(route, assignments.set_index("conversation_id")["split"]),
        read_batches(paths.input, cfg.executor.batch_size),
        outputs={
            name: Output(paths.output / f"{name}.parquet", CONVERSATION_SCHEMA, check) for name in SPLITS
        },
        quarantine=None,
        ledger=paths.ledger,
        executor=cfg.executor,
        total=len(assignments),
        on_result=lambda result: written.update({name: len(part) for name, part in result.kept.items()}),
    )
    return written


def route(split_of: pd.Series, batch: pd.DataFrame) -> BatchResult:
    """One batch, by split; nothing is dropped."""
    batch = batch[CONVERSATION_SCHEMA.names]  # splits hold the canonical columns only
    side = batch["conversation_id"].map(split_of)
    parts = {name: batch[side == name].reset_index(drop=True) for name in SPLITS}
    return BatchResult(batch["source"], parts)


def near_leakage(path: Path, assignments: pd.DataFrame, near: NearConfig, executor: ExecutorConfig) -> int:
    """Near-duplicate pairs (dedup's MinHash LSH + Jaccard check) split across sides."""
    with table_features(path, partial(conversation_features, near=near), executor) as features:
        if not len(features):
            return 0
        pairs, _ = near_duplicate_pairs(features, near)
        ids = features.ids()
    return near_duplicate_leakage(assignments, [(ids[a], ids[b]) for a, b in pairs])


def assign_groups(
    groups: pd.DataFrame, names: tuple[str, ...], fractions: Sequence[float], seed: int
) -> dict[str, str]:
    """Map group -> name. `groups` has columns group, stratum, size (conversations).

    Greedy by deficit: each group goes to the name whose share of its stratum is furthest
    below target after adding it, which keeps every stratum close to the fractions.
    """
    assignment: dict[str, str] = {}
    for _, members in groups.groupby("stratum", sort=True):
        counts = dict.fromkeys(names, 0)
        ordered = sorted(members.itertuples(index=False), key=lambda g: seeded_key(seed, g.group))
        for group in ordered:
            total = sum(counts.values()) + group.size
            target = max(names, key=lambda n: fractions[names.index(n)] * total - counts[n])
            counts[target] += group.size
            assignment[group.group] = target
    return assignment


def with_tier(conversations: pd.DataFrame) -> pd.DataFrame:
    """Quality tier for stratification; 'unscored' until a scoring stage provides one."""
    if "quality_tier" in conversations:
        return conversations
    return conversations.assign(quality_tier="unscored")


def group_table(
    conversations: pd.DataFrame, cluster_groups: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(conversation -> group, one row per group: key, stratum of its first member, size).

    A group is a connected component: conversations sharing a source thread, or a dedup
    cluster (`cluster_groups`: conversation_id -> cluster id), end up in one group.
    """
    frame = conversations[["conversation_id", "source", "thread_id", "quality_tier"]]
    frame = frame.sort_values("conversation_id").reset_index(drop=True)
    link_columns = [frame["thread_id"]]
    if cluster_groups is not None:
        link_columns.append(frame["conversation_id"].map(cluster_groups))
    links = UnionFind(frame["conversation_id"])
    for column in link_columns:
        first_of = {}
        for conversation_id, key in zip(frame["conversation_id"], column, strict=True):
            if pd.notna(key):
                links.union(first_of.setdefault(key, conversation_id), conversation_id)
    frame = frame.assign(
        group=frame["conversation_id"].map(links.groups()),
        stratum=frame["source"] + "|" + frame["quality_tier"],
    )
    groups = frame.groupby("group", sort=True).agg(
        stratum=("stratum", "first"), size=("conversation_id", "size")
    )
    return frame[["conversation_id", "group"]], groups.reset_index()


def make_splits(
    conversations: pd.DataFrame,
    fractions: Sequence[float],
    seed: int,
    cv_folds: int,
    cv_below: int,
    cluster_groups: pd.Series | None = None,
) -> pd.DataFrame:
    """conversation_id -> group, split, fold (fold only when fewer than `cv_below` rows)."""
    check_fractions(fractions)
    members, groups = group_table(with_tier(conversations), cluster_groups)
    split_of = assign_groups(groups, SPLITS, fractions, seed)
    members = members.assign(split=members["group"].map(split_of))
    members["fold"] = pd.array([None] * len(members), dtype="Int64")
    if len(conversations) < cv_below:
        pool = groups[groups["group"].map(split_of) != "test"]
        fold_names = tuple(str(k) for k in range(cv_folds))
        fold_of = assign_groups(pool, fold_names, [1 / cv_folds] * cv_folds, seed + 1)
        members["fold"] = members["group"].map(fold_of).astype("Int64")
    return members.sort_values("conversation_id").reset_index(drop=True)


def leakage(assignments: pd.DataFrame, conversations: pd.DataFrame) -> dict[str, int]:
    """Groups and identical contents found on more than one side; both must be 0."""
    split_count = assignments.groupby("group")["split"].nunique()
    joined = assignments.merge(conversations[["conversation_id", "content_hash"]], on="conversation_id")
    content_count = joined.groupby("content_hash")["split"].nunique()
    return {
        "groups_across_splits": int((split_count > 1).sum()),
        "identical_content_across_splits": int((content_count > 1).sum()),
    }


def near_duplicate_leakage(assignments: pd.DataFrame, pairs: list[tuple[str, str]]) -> int:
    """Near-duplicate pairs (conversation ids) whose two sides landed in different splits; must be 0."""
    split_of = assignments.set_index("conversation_id")["split"]
    return sum(split_of[a] != split_of[b] for a, b in pairs)


def proportions(assignments: pd.DataFrame, conversations: pd.DataFrame) -> dict:
    """Share of each split overall and within each stratum, for the report."""
    columns = ["conversation_id", "source", "quality_tier"]
    joined = assignments.merge(with_tier(conversations)[columns], on="conversation_id")
    overall = joined["split"].value_counts(normalize=True)
    by_stratum = defaultdict(dict)
    for (source, tier), part in joined.groupby(["source", "quality_tier"], sort=True):
        shares = part["split"].value_counts(normalize=True)
        by_stratum[f"{source}|{tier}"] = {s: round(float(shares.get(s, 0.0)), 4) for s in SPLITS}
    return {
        "overall": {s: round(float(overall.get(s, 0.0)), 4) for s in SPLITS},
        "by_stratum": dict(by_stratum),
    }
