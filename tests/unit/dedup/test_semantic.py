"""Semantic pair search: the inverted lists find what comparing every pair finds, the same way
on every run and thread count."""

import faiss
import numpy as np
import pytest

from bench.semantic_scaling import planted_vectors
from pixelated.core.vectors import DiskRows
from pixelated.dedup.semantic import all_pairs, listed_pairs


@pytest.fixture(scope="module")
def vectors():
    return planted_vectors(3000, seed=3)


def test_listed_pairs_match_all_pairs_across_many_lists(vectors):
    seeker, helper, planted = vectors
    exact = all_pairs(seeker, helper, 0.85)
    listed = listed_pairs(seeker, helper, 0.85, list_size=100, probes=8)  # 30 lists
    assert [p[:2] for p in listed] == [p[:2] for p in exact]
    assert np.allclose([p[2] for p in listed], [p[2] for p in exact], atol=1e-5)
    assert planted <= {p[:2] for p in listed} and all(p[2] >= 0.85 for p in listed)


def test_listed_pairs_do_not_depend_on_thread_count(vectors):
    seeker, helper, _ = vectors
    threads = faiss.omp_get_max_threads()
    runs = []
    for count in (1, 2):
        faiss.omp_set_num_threads(count)
        try:
            runs.append(listed_pairs(seeker, helper, 0.85, list_size=100, probes=3))
        finally:
            faiss.omp_set_num_threads(threads)
    assert runs[0] == runs[1]


def test_one_side_alike_is_not_a_pair():
    rng = np.random.default_rng(0)
    seeker = rng.standard_normal((400, 384)).astype(np.float32)
    seeker /= np.linalg.norm(seeker, axis=1, keepdims=True)
    helper = seeker.copy()
    seeker[1] = seeker[0]  # same question, unrelated answer: counsel-chat's case
    helper[2], seeker[2] = helper[3], seeker[3]  # both sides alike: a duplicate
    assert [p[:2] for p in listed_pairs(seeker, helper, 0.85, list_size=50, probes=4)] == [(2, 3)]


def test_search_reads_vectors_from_disk_as_from_memory(vectors):
    """Dedup keeps its vectors in files (`DiskRows`); both searches find the same pairs there."""
    seeker, helper, _ = vectors
    on_disk = [DiskRows(side.shape[1]) for side in (seeker, helper)]
    for rows, side in zip(on_disk, (seeker, helper), strict=True):
        rows.append(side)
    assert listed_pairs(*on_disk, 0.85, list_size=100, probes=8) == listed_pairs(
        seeker, helper, 0.85, list_size=100, probes=8
    )
    assert all_pairs(*on_disk, 0.85) == all_pairs(seeker, helper, 0.85)
