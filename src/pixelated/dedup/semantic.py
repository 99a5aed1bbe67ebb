"""Semantic dedup: MiniLM cosine on both sides of a conversation, never across one source thread."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np
import pandas as pd

from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.core.unionfind import UnionFind
from pixelated.core.vectors import DiskRows
from pixelated.dedup.config import SemanticConfig
from pixelated.dedup.store import Features

# k-means for the inverted lists trains on a bounded sample, so its cost stays linear in n
TRAIN_POINTS_PER_LIST = 64
MAX_TRAIN_POINTS = 65_536
BLOCK_CELLS = 1 << 24  # entries of one similarity block: 64 MB of float32
SEARCH_BLOCK = 16_384  # rows whose joined vectors are built at once (48 MB) to find their lists
# representatives embedded per call; the shared data's ~12k are one call (the same batches, so
# the same vectors, as embedding them all at once)
EMBED_ROWS = 16_384
Pair = tuple[int, int, float]


def semantic_pairs(seeker: np.ndarray, helper: np.ndarray, cfg: SemanticConfig) -> list[Pair]:
    """Pairs (a < b, ascending) whose seeker sides AND helper sides both have cosine >= threshold.

    Requiring both sides is what keeps counsel-chat's different answers to one question
    apart: their seeker turns match, their helper turns do not. Up to `exact_max` vectors
    every pair is compared; above, inverted lists keep the search linear in n.
    """
    if search_for(len(helper), cfg) == "all_pairs":
        return all_pairs(seeker, helper, cfg.threshold)
    return listed_pairs(seeker, helper, cfg.threshold, cfg.list_size, cfg.probes)


def search_for(n: int, cfg: SemanticConfig) -> str:
    """Which search `semantic_pairs` runs on `n` representatives, as the report names it."""
    return "all_pairs" if n <= cfg.exact_max else "inverted_lists"


def all_pairs(seeker: np.ndarray, helper: np.ndarray, threshold: float, chunk: int = 2048) -> list[Pair]:
    """Every pair compared, in blocked matrix products: exact, and quadratic in n (so only up
    to `exact_max` rows, which are read into memory whole)."""
    seeker, helper = seeker[:], helper[:]
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


def listed_pairs(
    seeker: np.ndarray, helper: np.ndarray, threshold: float, list_size: int, probes: int, seed: int = 0
) -> list[Pair]:
    """The pairs of `all_pairs` that share an inverted list: about n x probes x list_size
    comparisons, linear in n. A pair is found when one member's nearest list is among the other's
    `probes` nearest; bench/semantic_scaling.py measures the recall against `all_pairs`.

    The lists cut the joined vector (seeker, helper) / sqrt(2): its cosine is the mean of
    the two sides', so a pair with both sides >= threshold always passes the first filter.
    """
    count = max(1, len(helper) // list_size)
    lists = nearest_lists(seeker, helper, count, probes, seed)
    home = lists[:, 0]
    by_home = np.argsort(home, kind="stable")
    home_bounds = np.searchsorted(home[by_home], np.arange(count + 1))
    by_probe = np.argsort(lists.ravel(), kind="stable")
    probe_bounds = np.searchsorted(lists.ravel()[by_probe], np.arange(count + 1))
    members_of = by_probe // lists.shape[1]  # row of each (row, probe) entry, in list order
    candidates = [np.empty((0, 2), np.int64)]
    for cell in range(count):
        homes = by_home[home_bounds[cell] : home_bounds[cell + 1]]
        visitors = members_of[probe_bounds[cell] : probe_bounds[cell + 1]]
        candidates += _close_in_list(seeker, helper, homes, visitors, threshold)
    pairs = np.unique(np.concatenate(candidates), axis=0)
    found = []
    for start in range(0, len(pairs), SEARCH_BLOCK):
        a, b = pairs[start : start + SEARCH_BLOCK].T
        both = np.minimum(
            np.einsum("ij,ij->i", seeker[a], seeker[b]), np.einsum("ij,ij->i", helper[a], helper[b])
        )
        keep = both >= threshold
        found += zip(a[keep].tolist(), b[keep].tolist(), both[keep].tolist(), strict=True)
    return found


def joined(seeker: np.ndarray, helper: np.ndarray, rows) -> np.ndarray:
    """The unit vector (seeker, helper) / sqrt(2) of `rows`, built per block rather than held
    for all n: its inner products are the mean of the two sides' cosines."""
    vectors = np.hstack([seeker[rows], helper[rows]])
    vectors *= np.float32(np.sqrt(0.5))
    return vectors


def _close_in_list(seeker, helper, homes, visitors, threshold) -> list[np.ndarray]:
    """(lower, higher) row pairs of a list's home members and its visitors whose joined cosine
    passes the threshold, less a rounding margin; in blocks of at most BLOCK_CELLS entries."""
    found = []
    step = max(1, BLOCK_CELLS // max(1, len(visitors)))
    visiting = joined(seeker, helper, visitors)
    for start in range(0, len(homes), step):
        rows = homes[start : start + step]
        hit_row, hit_col = np.nonzero(joined(seeker, helper, rows) @ visiting.T >= threshold - 1e-5)
        a, b = rows[hit_row], visitors[hit_col]
        distinct = a != b
        found.append(np.stack([np.minimum(a, b)[distinct], np.maximum(a, b)[distinct]], axis=1))
    return found


def nearest_lists(seeker: np.ndarray, helper: np.ndarray, count: int, probes: int, seed: int) -> np.ndarray:
    """Per row, its `probes` nearest of `count` spherical k-means centroids of the joined
    vectors, nearest first.

    k-means trains on a seeded sample of bounded size; an HNSW graph over the centroids finds
    each row's lists in about log(count) steps, so no step compares n with count.
    """
    n = len(helper)
    rng = np.random.default_rng(seed)
    sample_size = min(n, TRAIN_POINTS_PER_LIST * count, MAX_TRAIN_POINTS)
    sample = joined(seeker, helper, np.sort(rng.choice(n, sample_size, replace=False)))
    kmeans = faiss.Kmeans(
        sample.shape[1],
        count,
        niter=10,
        seed=seed,
        spherical=True,
        min_points_per_centroid=1,
        max_points_per_centroid=sample_size,
    )
    kmeans.train(sample)
    graph = faiss.IndexHNSWFlat(sample.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # parallel insertion would make the graph depend on timing
    try:
        graph.add(kmeans.centroids)
    finally:
        faiss.omp_set_num_threads(threads)
    graph.hnsw.efSearch = max(64, 2 * probes)
    k = min(probes, count)
    blocks = (
        joined(seeker, helper, slice(start, start + SEARCH_BLOCK)) for start in range(0, n, SEARCH_BLOCK)
    )
    return np.concatenate([graph.search(block, k)[1] for block in blocks])


def semantic_links(
    features: Features,
    near_roots: np.ndarray,
    reps: np.ndarray,
    cfg: SemanticConfig,
    cache: EmbeddingCache,
) -> tuple[list[tuple[int, int]], dict]:
    """Semantic links (row positions in `features`) among the representatives `reps` of the
    near-duplicate components `near_roots`, and the stats for the report."""
    seeker, helper = side_vectors(features, reps, cache)
    found = semantic_pairs(seeker, helper, cfg)
    links, skipped = _without_shared_threads(features.keys["thread"], near_roots, reps, found)
    return links, {
        "compared": len(reps),
        "search": search_for(len(reps), cfg),
        "pairs": len(links),
        "same_thread_skipped": skipped,
    }


def side_vectors(features: Features, reps: np.ndarray, cache: EmbeddingCache) -> tuple[DiskRows, DiskRows]:
    """The seeker and helper vectors of `reps`, in files (`DiskRows`), embedded a chunk of
    texts at a time: memory holds one chunk's texts and vectors, whatever n is."""
    seeker, helper = DiskRows(DIMENSION), DiskRows(DIMENSION)
    for seeker_texts, helper_texts in _text_chunks(features, reps):
        seeker.append(cache.encode(seeker_texts, desc="dedup embed seeker sides"))
        helper.append(cache.encode(helper_texts, desc="dedup embed helper sides"))
    return seeker, helper


def _text_chunks(features: Features, reps: np.ndarray) -> Iterator[tuple[list[str], list[str]]]:
    """(seeker texts, helper texts) of `reps`, about EMBED_ROWS at a time (whole row groups)."""
    seeker: list[str] = []
    helper: list[str] = []
    for seeker_part, helper_part in features.side_texts(reps):
        seeker += seeker_part
        helper += helper_part
        if len(seeker) >= EMBED_ROWS:
            yield seeker, helper
            seeker, helper = [], []
    if seeker:
        yield seeker, helper


def _without_shared_threads(threads: pd.Series, near_roots, reps, found) -> tuple[list[tuple[int, int]], int]:
    """Semantic links that never put two conversations of one source thread in one cluster.

    Answers to one question (a counsel-chat thread) are alike in meaning but are not copies:
    they share a group, not a cluster. Checking whole components, not just the pair, also
    stops a copy of answer A (near-linked to A) from pulling in answer B of A's thread.
    Only the components `found` touches are looked at; a conversation without a thread
    shares none.
    """
    paired = np.unique(reps[np.asarray([pair[:2] for pair in found], np.int64).reshape(-1)])
    involved = np.flatnonzero(np.isin(near_roots, near_roots[paired]))
    members: dict[int, set] = {int(root): set() for root in near_roots[involved]}
    for row, thread in zip(involved, threads.iloc[involved], strict=True):
        if not pd.isna(thread):
            members[int(near_roots[row])].add(int(thread))
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
