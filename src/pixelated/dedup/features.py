"""Per-conversation dedup features: exact keys, shingle hashes, MinHash signatures, texts to embed.

Measured once per batch (mapped over the executor), so every later step of the cascade, and
split's leakage check, works on small columns instead of conversation text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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


def exact_texts(texts: pa.Array) -> pa.Array:
    """Texts as compared by exact dedup: NFKC, lower case, punctuation dropped, spaces collapsed.

    Arrow compute over all turns of a batch at once: per-turn Python regexes were most of the
    stage's time.
    """
    text = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(texts, ""), "NFKC"))
    text = pc.replace_substring_regex(text, r"[^\p{L}\p{N}\s]+", "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def word_hash_sets(exact: pa.Array, doc_of_turn: np.ndarray, n_docs: int) -> list[np.ndarray]:
    """Per document, the sorted unique xxh32 hashes of its words (word 1-gram shingles).

    Each distinct word of the batch is hashed once; deduplication per document is one sort.
    """
    words = pc.utf8_split_whitespace(exact)
    tokens = words.flatten()
    if len(tokens) == 0:
        return [np.zeros(0, np.uint32) for _ in range(n_docs)]
    doc = doc_of_turn[pc.list_parent_indices(words).to_numpy()]
    encoded = pc.dictionary_encode(tokens)
    vocabulary = token_hashes_list(encoded.dictionary.to_pylist())
    hashes = vocabulary[encoded.indices.to_numpy()]
    order = np.lexsort((hashes, doc))
    doc, hashes = doc[order], hashes[order]
    first = np.ones(len(doc), bool)
    first[1:] = (doc[1:] != doc[:-1]) | (hashes[1:] != hashes[:-1])
    doc, hashes = doc[first], hashes[first]
    bounds = np.searchsorted(doc, np.arange(n_docs + 1))
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
) -> pd.DataFrame:
    """`fn` (a `features_fn`) over the conversations at `path`, in input order."""
    batches = read_batches(path, executor.batch_size)
    features = map_with(fn, batches, executor)
    return pd.concat(progress(features, "dedup features", count_rows(path), unit="conv"), ignore_index=True)


def _hash_sets(exact_array: pa.Array, exact: list[str], doc_of_turn, bounds, near: NearConfig) -> list:
    """Shingle hash sets per document; word 1-grams take the batch-wide Arrow fast path."""
    n_docs = len(bounds) - 1
    if near.shingle == "word" and near.ngram == 1:
        return word_hash_sets(exact_array, doc_of_turn, n_docs)
    return [
        token_hashes(shingles(" ".join(exact[bounds[i] : bounds[i + 1]]), near.shingle, near.ngram))
        for i in range(n_docs)
    ]


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
    rows = []
    for i, row in enumerate(batch.itertuples(index=False)):
        span = range(bounds[i], bounds[i + 1])
        seeker = [exact[j] for j in span if roles[j] == "seeker"]
        helper = [exact[j] for j in span if roles[j] == "helper" and exact[j]]
        rating = next((float(getattr(row, c)) for c in rating_columns if pd.notna(getattr(row, c))), -np.inf)
        rows.append(
            {
                "conversation_id": row.conversation_id,
                "source": row.source,
                "thread_id": row.thread_id,
                "exact_key": text_key("\x1e".join(f"{roles[j]}\x1f{exact[j]}" for j in span)),
                "seeker_key": text_key("\x1e".join(seeker)) if any(seeker) else None,
                "helper_keys": [text_key(text) for text in helper],
                "helper_words": [text.count(" ") + 1 for text in helper],
                "hashes": hash_sets[i],
                "length": sum(len(raw[j]) for j in span),
                "rating": rating,
                "seeker_text": "\n".join(raw[j] for j in span if roles[j] == "seeker")[:max_chars],
                "helper_text": "\n".join(raw[j] for j in span if roles[j] == "helper")[:max_chars],
            }
        )
    features = pd.DataFrame(rows)
    if not features.empty:
        features["signature"] = list(signatures(list(features["hashes"]), near.num_perm, near.seed))
    return features
