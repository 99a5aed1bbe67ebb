"""Issue 14: embeddings on disk with their keys in memory, and an RSS that holds one read."""

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pixelated.core import embed
from pixelated.core.embed import DIMENSION, EmbeddingCache, _cache_table
from pixelated.core.shards import part_path
from pixelated.core.vectors import DiskRows, VectorStore


def rss_file_mb() -> float:
    """This process's resident pages of mapped files (RssFile in /proc/self/status)."""
    line = next(
        row for row in Path("/proc/self/status").read_text().splitlines() if row.startswith("RssFile")
    )
    return int(line.split()[1]) / 1024


def test_disk_rows_read_back_what_was_appended():
    rows = DiskRows(3)
    assert len(rows) == 0 and rows[np.array([], np.int64)].shape == (0, 3)
    first, second = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 3), np.float32)
    rows.append(first)
    assert np.array_equal(rows[:], first)
    rows.append(second)
    assert rows.shape == (3, 3)
    assert np.array_equal(rows[[2, 0]], np.vstack([second, first[:1]]))
    assert np.array_equal(rows[1], first[1]) and np.array_equal(rows[-1], second[0])
    assert np.array_equal(rows[np.array([False, True, True])], rows[1:])
    with pytest.raises(IndexError):
        rows[[3]]


def test_reading_every_row_keeps_the_file_out_of_rss():
    """100 MB of vectors read in blocks and in one scattered gather: read, not mapped, so the
    file never becomes resident."""
    rows = DiskRows(DIMENSION)
    block = np.random.default_rng(0).random((4096, DIMENSION), dtype=np.float32)
    for _ in range(16):
        rows.append(block)
    before = rss_file_mb()
    total = sum(float(rows[start : start + 4096].sum()) for start in range(0, len(rows), 4096))
    assert np.isclose(total, 16 * float(block.sum()), rtol=1e-5)
    shuffled = np.random.default_rng(1).permutation(len(rows))
    assert np.array_equal(rows[shuffled], np.tile(block, (16, 1))[shuffled])
    assert rss_file_mb() - before < 5


def test_vector_store_finds_keys_added_in_any_order():
    store = VectorStore(2)
    assert store.find(np.array([5], np.uint64)).tolist() == [-1]
    store.add(np.array([9, 2**63 + 1], np.uint64), np.array([[1, 1], [2, 2]], np.float32))
    store.add(np.array([3], np.uint64), np.array([[3, 3]], np.float32))
    rows = store.find(np.array([3, 4, 2**63 + 1, 9], np.uint64))
    assert rows.tolist() == [2, -1, 1, 0]
    assert store.keys.tolist() == [3, 9, 2**63 + 1] and len(store) == 3


def test_saved_cache_is_what_one_table_write_gives_and_splits_large_caches(tmp_path, monkeypatch):
    """Up to SAVE_ROWS entries, the bytes of `pq.write_table` of the whole cache (the committed
    caches stay byte-identical); beyond, row groups of SAVE_ROWS, read back whole."""
    texts = [f"text {i}" for i in range(10)]
    cache = EmbeddingCache(tmp_path / "cache.parquet")
    vectors = np.random.default_rng(1).random((10, DIMENSION), dtype=np.float32)
    cache.own.add(cache.keys(texts), vectors)
    cache.save()
    order = np.argsort(cache.keys(texts))
    pq.write_table(_cache_table(cache.keys(texts)[order], vectors[order]), tmp_path / "whole.parquet")
    assert (tmp_path / "cache.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()

    monkeypatch.setattr(embed, "SAVE_ROWS", 4)
    cache.save(keep=cache.keys(texts[:9]))
    saved = pq.ParquetFile(tmp_path / "cache.parquet")
    assert [saved.metadata.row_group(i).num_rows for i in range(saved.num_row_groups)] == [4, 4, 1]
    reread = EmbeddingCache(tmp_path / "cache.parquet")
    assert np.array_equal(reread.encode(texts[:9]), vectors[:9]) and reread.misses == 0


def test_a_cache_folder_of_parts_is_read_as_one(tmp_path):
    """The score stage saves its cache a part per shard; the service and `pixelated score`
    read the folder whole."""
    folder, rng = tmp_path / "turn_embeddings.parquet", np.random.default_rng(2)
    written = {}
    for index, texts in enumerate((["a", "b"], ["c"])):
        part = EmbeddingCache(part_path(folder, index))
        vectors = rng.random((len(texts), DIMENSION), dtype=np.float32)
        part.own.add(part.keys(texts), vectors)
        part.save()
        written.update(zip(texts, vectors, strict=True))
    reader = EmbeddingCache(read_only=[folder])
    assert np.array_equal(reader.encode(["c", "a", "b"]), np.stack([written[t] for t in "cab"]))
    assert reader.misses == 0


def test_a_short_write_is_an_error_not_lost_vectors(monkeypatch):
    """A full TMPDIR can cut a write short without raising; the vectors must not go missing."""
    rows = DiskRows(2)
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: data.nbytes - 4)
    with pytest.raises(OSError, match="short write"):
        rows.append(np.ones((3, 2), np.float32))
    assert len(rows) == 0
