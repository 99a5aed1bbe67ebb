"""Response selection: (seeker context -> helper response) pairs, seeded candidate sets and
rank metrics, shared by training (early stopping), evaluation, CV and the curation ablation.

A query is the context before a helper turn; its candidates are its own response plus
responses drawn (seeded) from other conversations, so every model is ranked on the very
same candidate sets. Ties count against the model, so a scorer that gives every candidate
the same score (an empty TF-IDF vector) gets no credit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from pixelated.core.config import ExecutorConfig
from pixelated.core.embed import encode_sorted
from pixelated.core.executor import map_with
from pixelated.core.hashing import seeded_key
from pixelated.core.sql import connect
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
    frames = (keep(frame) for frame in _batch_pairs(path, cfg, per_conversation, executor))
    pairs = pd.concat([keep(pd.DataFrame(columns=list(PAIR_COLUMNS))), *frames], ignore_index=True)
    return pairs.sort_values(PAIR_KEY, kind="stable").reset_index(drop=True)


def _batch_pairs(path: Path, cfg: TrainConfig, per_conversation: int, executor: ExecutorConfig):
    """The pairs of each batch of the table, in table order, mapped over the executor."""
    work = partial(
        pairs_from_batch,
        context_turns=cfg.context_turns,
        min_response_words=cfg.min_response_words,
        per_conversation=per_conversation,
        seed=cfg.seed,
    )
    return map_with(work, read_batches(path, executor.batch_size), executor)


def load_sample(
    path: Path,
    cfg: TrainConfig,
    per_conversation: int,
    limit: int | None,
    seed: int,
    executor: ExecutorConfig,
) -> tuple[pd.DataFrame, int]:
    """`sample_rows(load_pairs(...), limit, seed)` and how many pairs there were, holding the
    texts of the sample only and the keys of none but the sample: they wait in DuckDB."""
    if limit is not None:
        with closing(connect(executor.n_workers)) as con:
            store_pair_keys(con, "pairs", path, cfg, per_conversation, executor)
            keys, available = sample_keys(con, "pairs", limit, seed)
        if available > limit:
            (sample,) = fetch_pairs(path, cfg, per_conversation, executor, [keys])
            return sample, available
    pairs = load_pairs(path, cfg, per_conversation, executor)
    return pairs, len(pairs)


def store_pair_keys(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path,
    cfg: TrainConfig,
    per_conversation: int,
    executor: ExecutorConfig,
) -> None:
    """Table `name` in `con`: the keys of `load_pairs(path, ...)` (PAIR_KEY), a batch at a time."""
    con.execute(f"CREATE TABLE {name} (conversation_id VARCHAR, turn_index BIGINT)")
    for frame in _batch_pairs(path, cfg, per_conversation, executor):
        con.append(name, frame[PAIR_KEY])


def sample_keys(
    con: duckdb.DuckDBPyConnection, relation: str, limit: int | None, seed: int
) -> tuple[pd.DataFrame, int]:
    """`sample_rows` of the pair keys in `relation`, taken in load_pairs' order (by PAIR_KEY),
    and how many there are. The sample depends on that count alone, so only its rows leave
    DuckDB."""
    (available,) = con.sql(f"SELECT count(*) FROM {relation}").fetchall()[0]
    positions = sample_positions(available, limit, seed)
    con.register("wanted", pa.table({"pos": positions, "place": np.arange(len(positions))}))
    keys = con.sql(
        f"""SELECT conversation_id, turn_index FROM (
            SELECT row_number() OVER (ORDER BY conversation_id, turn_index) - 1 AS pos, * FROM {relation}
        ) JOIN wanted USING (pos) ORDER BY place"""
    ).df()
    return keys, available


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
    return frame.iloc[sample_positions(len(frame), limit, seed)].reset_index(drop=True)


def sample_positions(rows: int, limit: int | None, seed: int) -> np.ndarray:
    """The places of the rows `sample_rows` keeps of `rows`, in its order: all of them, or
    `limit` drawn by a seeded generator, the very draw of pandas' `DataFrame.sample` (a
    test checks it), so a table held elsewhere is sampled from its row count alone."""
    if limit is None or rows <= limit:
        return np.arange(rows)
    return np.random.RandomState(seed).choice(rows, size=limit, replace=False)


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
