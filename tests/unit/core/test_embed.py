"""The shared embedding cache: real MiniLM vectors, encoded once, reused across stages."""

import numpy as np

from pixelated.core.embed import DIMENSION, EmbeddingCache


def test_cache_encodes_each_text_once_and_is_shared(tmp_path):
    own = EmbeddingCache(tmp_path / "dedup.parquet")
    vectors = own.encode(["I feel so alone lately.", "I feel so alone lately.", "Let's talk about football."])
    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1])
    assert vectors[0] @ vectors[2] < 0.5  # unrelated sentences are far apart
    assert (own.hits, own.misses) == (1, 2)
    own.save()

    reader = EmbeddingCache(tmp_path / "score.parquet", read_only=[tmp_path / "dedup.parquet"])
    again = reader.encode(["I feel so alone lately."])
    assert (reader.hits, reader.misses) == (1, 0)
    assert np.allclose(again[0], vectors[0])


def test_save_keeps_only_texts_in_use_and_is_byte_stable(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.parquet")
    cache.encode(["b text", "a text", "gone"])
    cache.save(keep=["a text", "b text"])
    first = (tmp_path / "c.parquet").read_bytes()
    reloaded = EmbeddingCache(tmp_path / "c.parquet")
    reloaded.encode(["a text", "b text"])
    assert reloaded.misses == 0
    reloaded.save()
    assert (tmp_path / "c.parquet").read_bytes() == first
