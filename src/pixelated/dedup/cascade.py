"""Conversation-level deduplication: exact, near (MinHash LSH) and semantic (MiniLM), in cascade.

Each method only looks at one representative of what the previous one already merged, so the
expensive steps see the fewest documents. Every link goes into union-find; a final cluster
keeps one conversation by the configured policy. A separate, wider `group_id` also joins
conversations that share their seeker turns or source thread (counsel-chat answers to one
question): not duplicates, so none is removed, but the split must keep them on one side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from pixelated.core.embed import EmbeddingCache
from pixelated.core.schema import CLUSTER_METHODS
from pixelated.core.unionfind import components
from pixelated.dedup.clusters import ClusterTable
from pixelated.dedup.config import DedupConfig, KeepPolicy, NearConfig
from pixelated.dedup.minhash import LshParams, near_pairs
from pixelated.dedup.semantic import semantic_links
from pixelated.dedup.store import Features

Pairs = np.ndarray  # (k, 2) int64 row positions: a numpy array, not k Python tuples


@dataclass
class DedupResult:
    """The cascade's decisions by row position (`decisions`: row, root, group_root, kept_row
    and method, a CLUSTER_METHODS index), with the features they index: no per-conversation
    string is held; `dedup.clusters` joins the ids in DuckDB."""

    decisions: pa.Table
    features: Features
    stats: dict = field(default_factory=dict)

    @property
    def clusters(self) -> pd.DataFrame:
        """The whole cluster table as one frame, for callers with small inputs (tests, benches)."""
        with ClusterTable(self) as table:
            return pd.concat(table.frames(), ignore_index=True)


def exact_duplicate_pairs(keys: pd.DataFrame) -> Pairs:
    """(first conversation with the same exact key, conversation) for every later copy."""
    codes = pd.factorize(keys["exact"])[0]
    head = np.unique(codes, return_index=True)[1][codes]
    copies = np.flatnonzero(head != np.arange(len(head)))
    return np.stack([head[copies], copies], axis=1)


def near_duplicate_pairs(
    features: Features, near: NearConfig, subset: np.ndarray | None = None, links_only: bool = False
) -> tuple[Pairs, dict]:
    """Verified near-duplicate pairs (row positions in `features`) among the ascending rows
    `subset` (default all); with `links_only`, just enough of them for the clusters (see
    `minhash.component_links`), and the stats' `verified_pairs` counts those."""
    reps = np.arange(len(features)) if subset is None else subset
    params = LshParams.for_threshold(near.candidate_threshold, near.num_perm, near.bands, near.rows)
    if len(reps) == 0:
        return _pairs([]), {"bands": params.bands, "rows": params.rows, "verified_pairs": 0}
    found, _ = near_pairs(
        features.hash_sets.subset(reps),
        features.signatures(reps),
        near.threshold,
        near.candidate_threshold,
        params.num_perm,
        params.bands,
        params.rows,
        stray_checks=near.stray_checks if links_only else None,
    )
    return reps[found], {"bands": params.bands, "rows": params.rows, "verified_pairs": len(found)}


def _pairs(pairs) -> Pairs:
    """(a, b) pairs as a (k, 2) int64 array, also when there are none."""
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _first_of(roots: np.ndarray) -> np.ndarray:
    """Indices of one representative (the first) per component."""
    return np.unique(roots, return_index=True)[1]


def find_duplicates(features: Features, cfg: DedupConfig, cache: EmbeddingCache | None = None) -> DedupResult:
    """Cluster conversations (features in input order) and decide which one each cluster keeps."""
    n, keys = len(features), features.keys
    stats: dict = {}
    links = [exact_duplicate_pairs(keys) if cfg.exact else _pairs([])]
    exact_roots = components(n, links[0])

    if cfg.near.enabled and n:
        found, stats["near"] = near_duplicate_pairs(
            features, cfg.near, _first_of(exact_roots), links_only=True
        )
        links.append(found)
    near_roots = components(n, np.concatenate(links))

    if cfg.semantic.enabled and n:
        if cache is None:
            raise ValueError("semantic dedup needs an EmbeddingCache")
        found, stats["semantic"] = semantic_links(
            features, near_roots, _first_of(near_roots), cfg.semantic, cache
        )
        links.append(_pairs(found))
    all_links = np.concatenate(links)
    roots = components(n, all_links)

    kept_index = keepers(keys, roots, cfg.keep)
    decisions = pa.table(
        {
            "row": np.arange(n, dtype=np.int64),
            "root": roots,
            "group_root": group_roots(keys, all_links, cfg.group_by_seeker),
            "kept_row": kept_index,
            "method": _methods(roots, exact_roots, near_roots, kept_index),
        }
    )
    return DedupResult(decisions, features, stats)


def keepers(keys: pd.DataFrame, roots: np.ndarray, policy: KeepPolicy) -> np.ndarray:
    """Per conversation, the position of the member its cluster keeps: the best-ranked one."""
    order = np.arange(len(roots))
    rank = {
        "earliest": (order,),
        "longest": (order, -keys["length"].to_numpy()),
        "highest_rated": (order, -keys["length"].to_numpy(), -keys["rating"].to_numpy()),
    }[policy]
    best = np.lexsort((*rank, roots))  # sorted by root, then policy keys (last key = primary)
    first = np.ones(len(best), bool)
    first[1:] = roots[best][1:] != roots[best][:-1]
    keeper = np.empty(len(roots), np.int64)  # roots are row positions: index by them directly
    keeper[roots[best][first]] = best[first]
    return keeper[roots]


def _methods(roots, exact_roots, near_roots, kept_index) -> np.ndarray:
    """How each conversation joined its keeper, as an int8 index into CLUSTER_METHODS: the
    first cascade step that linked them (codes, not strings: 1 byte a conversation)."""
    code = {name: np.int8(i) for i, name in enumerate(CLUSTER_METHODS)}
    joined = np.select(
        [exact_roots == exact_roots[kept_index], near_roots == near_roots[kept_index]],
        [code["exact"], code["near"]],
        code["semantic"],
    )
    method = np.where(kept_index == np.arange(len(roots)), code["kept"], joined)
    size = np.bincount(roots, minlength=len(roots))[roots]  # roots are row positions
    return np.where(size == 1, code["unique"], method).astype(np.int8)


def group_roots(keys: pd.DataFrame, links: Pairs, group_by_seeker: bool) -> np.ndarray:
    """The split's unit, as component roots: duplicate links joined with shared source threads
    (and seeker turns)."""
    n = len(keys)
    edges = [links]
    for column in ["thread"] + (["seeker"] if group_by_seeker else []):
        codes = pd.factorize(keys[column])[0]  # a missing key is -1: joins nothing
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        edges.append(np.stack([first[inverse], np.arange(n)], axis=1)[codes >= 0])
    return components(n, np.concatenate(edges))
