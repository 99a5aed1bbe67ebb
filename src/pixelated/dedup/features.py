"""Per-conversation dedup features: exact keys, shingle hashes, MinHash signatures, texts to embed.

Measured once per batch (mapped over the executor), so every later step of the cascade, and
split's leakage check, works on small columns instead of conversation text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pixelated.core.config import ExecutorConfig
from pixelated.core.executor import map_with
from pixelated.core.hashing import text_key
from pixelated.core.progress import progress
from pixelated.core.schema import TURN_TYPE
from pixelated.core.tableio import count_rows, read_batches
from pixelated.dedup.config import DedupConfig, NearConfig
from pixelated.dedup.minhash import shingles, signatures, token_hashes, token_hashes_list
from pixelated.dedup.store import Features, spill


def exact_texts(texts: pa.Array) -> pa.Array:
    """Texts as compared by exact dedup: NFKC, lower case, punctuation dropped, spaces collapsed.

    Arrow compute over all turns of a batch at once: per-turn Python regexes were most of the
    stage's time. Whitespace runs become one space by rewriting only what is not already a
    single space: matching every run rewrote each gap between words, 10x slower.
    """
    text = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(texts, ""), "NFKC"))
    text = pc.replace_substring_regex(text, r"[^\p{L}\p{N}\s]+", "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s\s+|[^\S ]", " "))


def word_hash_sets(exact: pa.Array, doc_of_turn: np.ndarray, n_docs: int) -> list[np.ndarray]:
    """Per document, the sorted unique xxh32 hashes of its words (word 1-gram shingles).

    Each distinct word of the batch is hashed once; deduplication per document is one sort of
    (doc << 32 | hash) keys: a single-key sort, 10x faster than `np.lexsort` on the two columns.
    """
    words = pc.utf8_split_whitespace(exact)
    tokens = words.flatten()
    if len(tokens) == 0:
        return [np.zeros(0, np.uint32) for _ in range(n_docs)]
    doc = doc_of_turn[pc.list_parent_indices(words).to_numpy()]
    encoded = pc.dictionary_encode(tokens)
    vocabulary = token_hashes_list(encoded.dictionary.to_pylist())
    hashes = vocabulary[encoded.indices.to_numpy()]
    keys = np.sort((doc.astype(np.uint64) << np.uint64(32)) | hashes)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    hashes = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bounds = np.searchsorted(keys >> np.uint64(32), np.arange(n_docs + 1, dtype=np.uint64))
    return [hashes[bounds[i] : bounds[i + 1]] for i in range(n_docs)]


def features_fn(cfg: DedupConfig):
    """The per-batch feature function for the dedup config `cfg` (picklable, for the executor)."""
    return partial(
        conversation_features,
        near=cfg.near,
        max_chars=cfg.semantic.max_chars,
        rating_columns=cfg.rating_columns,
    )


def table_features(
    path: Path, fn: Callable[[pd.DataFrame], pd.DataFrame], executor: ExecutorConfig
) -> Features:
    """`fn` (a `features_fn`) over the conversations at `path`, in input order, spilled to disk."""
    batches = read_batches(path, executor.batch_size)
    return spill(progress(map_with(fn, batches, executor), "dedup features", count_rows(path), unit="conv"))


def _hash_sets(exact_array: pa.Array, exact: list[str], doc_of_turn, bounds, near: NearConfig) -> list:
    """Shingle hash sets per document; word 1-grams take the batch-wide Arrow fast path."""
    n_docs = len(bounds) - 1
    if near.shingle == "word" and near.ngram == 1:
        return word_hash_sets(exact_array, doc_of_turn, n_docs)
    return [
        token_hashes(shingles(" ".join(exact[bounds[i] : bounds[i + 1]]), near.shingle, near.ngram))
        for i in range(n_docs)
    ]


def _turn_columns(exact: list[str], raw: list[str], roles: list[str], bounds, max_chars: int) -> dict:
    """Per conversation, the keys and embedding texts built from its turns in order."""
    names = ("exact_key", "seeker_key", "helper_keys", "helper_words", "seeker_text", "helper_text")
    columns: dict[str, list] = {name: [] for name in names}
    for start, stop in pairwise(bounds):
        span = range(start, stop)
        seeker = [exact[j] for j in span if roles[j] == "seeker"]
        helper = [exact[j] for j in span if roles[j] == "helper" and exact[j]]
        columns["exact_key"].append(text_key("\x1e".join(f"{roles[j]}\x1f{exact[j]}" for j in span)))
        columns["seeker_key"].append(text_key("\x1e".join(seeker)) if any(seeker) else None)
        columns["helper_keys"].append([text_key(text) for text in helper])
        columns["helper_words"].append([text.count(" ") + 1 for text in helper])
        columns["seeker_text"].append("\n".join(raw[j] for j in span if roles[j] == "seeker")[:max_chars])
        columns["helper_text"].append("\n".join(raw[j] for j in span if roles[j] == "helper")[:max_chars])
    return columns


def _ratings(batch: pd.DataFrame, rating_columns: list[str]) -> np.ndarray:
    """Per conversation, the first of `rating_columns` that is set; -inf where none is."""
    rating = np.full(len(batch), -np.inf)
    for column in reversed(rating_columns):  # earlier columns win
        values = pd.to_numeric(batch[column]).to_numpy(np.float64, na_value=np.nan)
        rating = np.where(np.isnan(values), rating, values)
    return rating


def conversation_features(
    batch: pd.DataFrame, near: NearConfig, max_chars: int = 0, rating_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Per-conversation keys, shingle hashes, MinHash signature and embedding texts.

    A function of one batch (mapped by the executor); it carries no text out except the
    seeker/helper sides, cut to `max_chars`, that semantic dedup embeds.
    """
    rating_columns = [c for c in rating_columns if c in batch]
    turns = pa.array([list(t) for t in batch["turns"]], type=pa.list_(TURN_TYPE))
    flat = turns.flatten()
    doc_of_turn = pc.list_parent_indices(turns).to_numpy()
    exact_array = exact_texts(flat.field("text"))
    exact = exact_array.to_pylist()
    raw = pc.fill_null(flat.field("text"), "").to_pylist()
    roles = flat.field("role").to_pylist()
    bounds = np.searchsorted(doc_of_turn, np.arange(len(batch) + 1))
    hash_sets = _hash_sets(exact_array, exact, doc_of_turn, bounds, near)
    lengths = pc.utf8_length(pc.fill_null(flat.field("text"), "")).to_numpy(zero_copy_only=False)
    features = pd.DataFrame(
        {
            "conversation_id": batch["conversation_id"].to_numpy(),
            "source": batch["source"].to_numpy(),
            "thread_id": batch["thread_id"].to_numpy(),
            **_turn_columns(exact, raw, roles, bounds, max_chars),
            "hashes": hash_sets,
            "length": np.bincount(doc_of_turn, lengths, len(batch)).astype(np.int64),
            "rating": _ratings(batch, rating_columns),
        }
    )
    if not features.empty:
        features["signature"] = list(signatures(list(features["hashes"]), near.num_perm, near.seed))
    return features
