"""Response selection: (seeker context -> helper response) pairs, seeded candidate sets and
rank metrics, shared by training (early stopping), evaluation, CV and the curation ablation.

A query is the context before a helper turn; its candidates are its own response plus
responses drawn (seeded) from other conversations, so every model is ranked on the very
same candidate sets. Ties count against the model, so a scorer that gives every candidate
the same score (an empty TF-IDF vector) gets no credit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from pixelated.core.config import ExecutorConfig
from pixelated.core.embed import encode_sorted
from pixelated.core.executor import map_with
from pixelated.core.hashing import seeded_key
from pixelated.core.tableio import read_batches
from pixelated.modeling.config import TfidfConfig, TrainConfig

GROUP_COLUMNS = ("source", "emotion_type", "problem_type", "topic")
PAIR_COLUMNS = (
    "conversation_id",
    "thread_id",
    "content_hash",
    *GROUP_COLUMNS,
    "turn_index",
    "context",
    "response",
)
PAIR_KEY = ["conversation_id", "turn_index"]  # one pair per helper turn
SCORE_BLOCK_QUERIES = 256  # x 100 candidates x 384 dims of float32: about 40 MB a block
TABLE_COLUMNS = ["conversation_id", "thread_id", "content_hash", *GROUP_COLUMNS, "turns"]


def conversation_pairs(turns, context_turns: int, min_response_words: int) -> list[tuple[int, str, str]]:
    """(turn index, context, response) for every helper turn that answers a seeker turn.

    The context is the `context_turns` turns before the reply, most recent first, so that
    truncation at the model's max_seq_length drops the oldest turns, not the question.
    Replies shorter than `min_response_words` ("ok", "you're welcome") are skipped: they
    fit any context, so they cannot be told apart from the negatives.
    """
    found = []
    for index in range(1, len(turns)):
        turn, previous = turns[index], turns[index - 1]
        if turn["role"] != "helper" or previous["role"] != "seeker":
            continue
        if len(turn["text"].split()) < min_response_words:
            continue
        window = turns[max(0, index - context_turns) : index]
        context = "\n".join(t["text"] for t in reversed(window))
        found.append((index, context, turn["text"]))
    return found


def pairs_from_batch(
    batch: pd.DataFrame, *, context_turns: int, min_response_words: int, per_conversation: int, seed: int
) -> pd.DataFrame:
    """The pairs of a batch of conversations, at most `per_conversation` each, picked by seeded
    hash (not the first ones: ESConv opens with greetings)."""
    rows = []
    for row in batch[TABLE_COLUMNS].itertuples(index=False):
        found = conversation_pairs(row.turns, context_turns, min_response_words)
        picked = sorted(found, key=lambda p: seeded_key(seed, row.conversation_id, p[0]))[:per_conversation]
        meta = [None if pd.isna(v) else v for v in row[:-1]]
        rows.extend((*meta, index, context, response) for index, context, response in sorted(picked))
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def load_pairs(
    path: Path,
    cfg: TrainConfig,
    per_conversation: int,
    executor: ExecutorConfig,
    keep: Callable[[pd.DataFrame], pd.DataFrame] = lambda pairs: pairs,
) -> pd.DataFrame:
    """Pairs from a conversation table, mapped over its batches, sorted by conversation;
    `keep` trims each batch's pairs (to their keys, to chosen rows) before they are gathered."""
    work = partial(
        pairs_from_batch,
        context_turns=cfg.context_turns,
        min_response_words=cfg.min_response_words,
        per_conversation=per_conversation,
        seed=cfg.seed,
    )
    frames = (keep(frame) for frame in map_with(work, read_batches(path, executor.batch_size), executor))
    pairs = pd.concat([keep(pd.DataFrame(columns=list(PAIR_COLUMNS))), *frames], ignore_index=True)
    return pairs.sort_values(PAIR_KEY, kind="stable").reset_index(drop=True)


def load_sample(
    path: Path,
    cfg: TrainConfig,
    per_conversation: int,
    limit: int | None,
    seed: int,
    executor: ExecutorConfig,
) -> tuple[pd.DataFrame, int]:
    """`sample_rows(load_pairs(...), limit, seed)` and how many pairs there were, holding the
    texts of the sample only. A seeded pandas sample depends on the row count alone, so the
    keys of every pair, in load_pairs' order, pick the same rows; a second pass keeps those."""
    keys = None if limit is None else load_keys(path, cfg, per_conversation, executor)
    if keys is None or len(keys) <= limit:
        pairs = load_pairs(path, cfg, per_conversation, executor)
        return pairs, len(pairs)
    (sample,) = fetch_pairs(path, cfg, per_conversation, executor, [sample_rows(keys, limit, seed)])
    return sample, len(keys)


def load_keys(path: Path, cfg: TrainConfig, per_conversation: int, executor: ExecutorConfig) -> pd.DataFrame:
    """`load_pairs(...)[PAIR_KEY]` without holding any text: the rows to sample from."""
    return load_pairs(path, cfg, per_conversation, executor, lambda pairs: pairs[PAIR_KEY])


def fetch_pairs(
    path: Path,
    cfg: TrainConfig,
    per_conversation: int,
    executor: ExecutorConfig,
    chosen: list[pd.DataFrame],
) -> list[pd.DataFrame]:
    """For each frame of keys in `chosen`, the pairs with those keys in its row order, as
    `load_pairs` builds them; one pass over the table keeps the chosen pairs' texts only."""
    wanted = {key for keys in chosen for key in _keys_of(keys)}
    found = load_pairs(
        path,
        cfg,
        per_conversation,
        executor,
        lambda pairs: pairs[np.fromiter((key in wanted for key in _keys_of(pairs)), bool, len(pairs))],
    )
    place = {key: row for row, key in enumerate(_keys_of(found))}
    return [found.iloc[[place[key] for key in _keys_of(keys)]].reset_index(drop=True) for keys in chosen]


def _keys_of(pairs: pd.DataFrame) -> Iterable[tuple]:
    return zip(*(pairs[key] for key in PAIR_KEY), strict=True)


def sample_rows(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows, a seeded sample in a fixed order (caps CPU time, not meaning)."""
    if limit is None or len(frame) <= limit:
        return frame.reset_index(drop=True)
    return frame.sample(n=limit, random_state=seed).reset_index(drop=True)


def candidate_sets(n: int, size: int, seed: int) -> np.ndarray:
    """(n, min(size, n)) indices: column 0 is the query's own response, the rest are distinct
    other responses drawn with a seeded generator, so every model sees the same sets."""
    size = min(size, n)
    rng = np.random.default_rng(seed)
    sets = np.empty((n, size), dtype=np.int64)
    for query in range(n):
        others = rng.choice(n - 1, size=size - 1, replace=False)
        others[others >= query] += 1
        sets[query, 0] = query
        sets[query, 1:] = others
    return sets


def positive_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each query's own response among its candidates (ties count against it).

    `scores[i, j]` scores query i against its j-th candidate; column 0 is its own response.
    """
    return 1 + (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def candidate_scores(queries, responses, candidates: np.ndarray) -> np.ndarray:
    """`scores[i, j]`: the dot product of query i's vector with the vector of its j-th candidate
    response. Only the candidate sets are scored, a block of queries at a time, so time and memory
    grow with queries x candidates, not with queries squared. Vectors are dense rows or the rows
    of a sparse matrix (TF-IDF)."""
    scores = np.empty(candidates.shape, np.result_type(queries.dtype, responses.dtype))
    for start in range(0, len(candidates), SCORE_BLOCK_QUERIES):
        block = candidates[start : start + SCORE_BLOCK_QUERIES]
        own = np.repeat(np.arange(start, start + len(block)), block.shape[1])
        if sparse.issparse(queries):
            products = np.asarray(queries[own].multiply(responses[block.ravel()]).sum(axis=1))
        else:
            products = np.einsum("id,id->i", queries[own], responses[block.ravel()])
        scores[start : start + len(block)] = products.reshape(block.shape)
    return scores


def rank_metrics(ranks: np.ndarray, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """recall@k (share of queries whose response ranks in the top k) and mean reciprocal rank."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {**{f"recall_at_{k}": 0.0 for k in ks}, "mrr": 0.0}
    metrics = {f"recall_at_{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics["mrr"] = float(np.mean(1.0 / ranks))
    return metrics


def candidate_ranks(queries, responses, candidates: np.ndarray) -> np.ndarray:
    """Each query's rank of its own response among its candidates, from their vectors."""
    return positive_ranks(candidate_scores(queries, responses, candidates))


def encode_pairs(model, pairs: pd.DataFrame, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of every context and every response under a bi-encoder."""
    queries = encode_sorted(model, pairs["context"].tolist(), batch_size, "encode contexts")
    responses = encode_sorted(model, pairs["response"].tolist(), batch_size, "encode responses")
    return queries, responses


def tfidf_vectors(fit_texts: list[str], pairs: pd.DataFrame, cfg: TfidfConfig):
    """The lexical baseline: sparse TF-IDF vectors of every context and every response, fitted
    on training texts only (unit rows, so their dot product is a cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(1, cfg.ngram_max),
        min_df=cfg.min_df,
        sublinear_tf=cfg.sublinear_tf,
        strip_accents="unicode",
    )
    vectorizer.fit(fit_texts)
    queries = vectorizer.transform(pairs["context"].tolist())
    responses = vectorizer.transform(pairs["response"].tolist())
    return queries.tocsr(), responses.tocsr()


def group_metrics(
    pairs: pd.DataFrame, ranks: dict[str, np.ndarray], ks: Iterable[int], min_queries: int
) -> pd.DataFrame:
    """The fairness table: metrics per model within each value of each group column, for the
    groups with at least `min_queries` queries (smaller ones would be noise)."""
    rows = []
    for attribute in GROUP_COLUMNS:
        values = pairs[attribute]
        for group in sorted(values.dropna().unique()):
            mask = (values == group).to_numpy()
            if mask.sum() < min_queries:
                continue
            for model, model_ranks in ranks.items():
                metrics = rank_metrics(model_ranks[mask], ks)
                rows.append(
                    {"attribute": attribute, "group": group, "model": model, "n": int(mask.sum()), **metrics}
                )
    metric_columns = [*(f"recall_at_{k}" for k in ks), "mrr"]
    table = pd.DataFrame(rows, columns=["attribute", "group", "model", "n", *metric_columns])
    return table.astype(
        {"attribute": str, "group": str, "model": str, "n": int} | dict.fromkeys(metric_columns, float)
    )


HELD_OUT_KEYS = ("conversation_id", "thread_id", "content_hash")


def exclude_held_out(rows: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    """Drop the rows (conversations, or their pairs) whose conversation, source thread or exact
    content is in `held_out` (the validation and test conversations), so a model trained on
    other data is scored fairly on the test splits."""
    leaked = pd.Series(False, index=rows.index)
    for key in HELD_OUT_KEYS:
        leaked |= rows[key].isin(set(held_out[key].dropna()))
    return rows[~leaked].reset_index(drop=True)
