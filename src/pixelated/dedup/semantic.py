"""Semantic dedup: MiniLM cosine on both sides of a conversation, never across one source thread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pixelated.core.embed import EmbeddingCache
from pixelated.core.unionfind import UnionFind
from pixelated.dedup.config import SemanticConfig


def semantic_pairs(
    seeker: np.ndarray, helper: np.ndarray, threshold: float, chunk: int = 2048
) -> list[tuple[int, int, float]]:
    """Pairs (a < b) whose seeker sides AND helper sides both have cosine >= threshold.

    Requiring both sides is what keeps counsel-chat's different answers to one question
    apart: their seeker turns match, their helper turns do not.
    """
    found = []
    n = len(helper)
    for start in range(0, n, chunk):
        block = helper[start : start + chunk] @ helper.T
        rows, cols = np.nonzero(block >= threshold)
        a = rows + start
        upper = cols > a
        a, b = a[upper], cols[upper]
        if len(a) == 0:
            continue
        both = np.minimum(block[rows[upper], b], np.einsum("ij,ij->i", seeker[a], seeker[b]))
        for i, j, score in zip(a, b, both, strict=True):
            if score >= threshold:
                found.append((int(i), int(j), float(score)))
    return found


def semantic_links(
    features: pd.DataFrame,
    near_roots: np.ndarray,
    reps: np.ndarray,
    cfg: SemanticConfig,
    cache: EmbeddingCache,
) -> tuple[list[tuple[int, int]], dict]:
    """Semantic links (row positions in `features`) among the representatives `reps` of the
    near-duplicate components `near_roots`, and the stats for the report."""
    seeker = cache.encode(list(features["seeker_text"].iloc[reps]))
    helper = cache.encode(list(features["helper_text"].iloc[reps]))
    found = semantic_pairs(seeker, helper, cfg.threshold)
    links, skipped = _without_shared_threads(features["thread_id"].to_numpy(), near_roots, reps, found)
    return links, {"compared": len(reps), "pairs": len(links), "same_thread_skipped": skipped}


def _without_shared_threads(threads, near_roots, reps, found) -> tuple[list[tuple[int, int]], int]:
    """Semantic links that never put two conversations of one source thread in one cluster.

    Answers to one question (a counsel-chat thread) are alike in meaning but are not copies:
    they share a group, not a cluster. Checking whole components, not just the pair, also
    stops a copy of answer A (near-linked to A) from pulling in answer B of A's thread.
    """
    members: dict[int, set] = {}
    for i, root in enumerate(near_roots):
        members.setdefault(int(root), set()).add(threads[i])
    links = UnionFind(members)
    kept, skipped = [], 0
    for a, b, _ in sorted(found, key=lambda p: (-p[2], p[0], p[1])):
        x, y = int(reps[a]), int(reps[b])
        ra, rb = links.find(int(near_roots[x])), links.find(int(near_roots[y]))
        if ra == rb:
            continue
        if members[ra] & members[rb]:
            skipped += 1
            continue
        links.union(ra, rb)
        members[links.find(ra)] = members[ra] | members[rb]
        kept.append((x, y))
    return kept, skipped
