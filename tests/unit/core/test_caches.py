"""Issue 17, item 8: a truncated persistent cache is logged, deleted and rebuilt; it no longer
crashes its stage on every `dvc repro` until a manual `dvc checkout --force`."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.privacy import cache as span_cache
from pixelated.privacy.engine import Span

SECRET = "jane.doe@example.org"  # a cache key's text; must never appear in a log line


def truncate(path, fraction: float = 0.5) -> None:
    """As `truncate -s <fraction of the size>` does."""
    os.truncate(path, int(path.stat().st_size * fraction))


def embedding_cache(path, texts) -> EmbeddingCache:
    cache = EmbeddingCache(path)
    rng = np.random.default_rng(0)
    cache.own.add(cache.keys(texts), rng.random((len(texts), DIMENSION), dtype=np.float32))
    cache.save()
    return cache


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.9])
def test_truncated_embedding_cache_loads_empty_with_a_warning_and_saves(tmp_path, caplog, fraction):
    path = tmp_path / "cache" / "embeddings.parquet"
    embedding_cache(path, [f"{SECRET} {i}" for i in range(200)])
    truncate(path, fraction)
    with caplog.at_level(logging.WARNING):
        reopened = EmbeddingCache(path)
    assert len(reopened.own) == 0
    assert str(path) in caplog.text and "unreadable" in caplog.text
    assert SECRET not in caplog.text
    assert sorted(p.name for p in path.parent.iterdir()) == []  # deleted, not left beside DVC outs
    embedding_cache(path, ["fresh"])
    assert EmbeddingCache(path).own.keys.tolist() == [EmbeddingCache().key("fresh")]


def test_unreadable_shared_cache_is_ignored_not_deleted(tmp_path, caplog):
    """Another stage's cache is read-only here: skipped with a warning, left for its owner."""
    other = tmp_path / "other.parquet"
    embedding_cache(other, ["a", "b"])
    truncate(other)
    with caplog.at_level(logging.WARNING):
        cache = EmbeddingCache(tmp_path / "own.parquet", read_only=[other])
    assert [len(store) for store in cache.shared] == [0] and other.exists()
    assert "ignored" in caplog.text


def test_truncated_span_cache_loads_empty_with_a_warning_and_saves(tmp_path, caplog):
    path = tmp_path / "anonymize_spans.parquet"
    email = [Span(0, 20, "EMAIL_ADDRESS", 1.0)]
    entries = {span_cache.span_key("fp", f"{SECRET} {i}"): email for i in range(300)}
    span_cache.save(path, entries)
    assert span_cache.load(path) == entries
    truncate(path)
    with caplog.at_level(logging.WARNING):
        assert span_cache.load(path) == {}
    assert str(path) in caplog.text and SECRET not in caplog.text
    assert not path.exists()
    span_cache.save(path, entries)
    assert span_cache.load(path) == entries
