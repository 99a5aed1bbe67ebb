"""Response-selection pairs, seeded candidate sets and rank metrics on hand-made cases."""

from contextlib import closing

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import sparse

from pixelated.core.config import ExecutorConfig, build_config, read_params
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.sql import connect
from pixelated.ingest.conversation import make_turn
from pixelated.modeling import retrieval
from pixelated.modeling.retrieval import (
    PAIR_KEY,
    candidate_ranks,
    candidate_scores,
    candidate_sets,
    conversation_pairs,
    fetch_pairs,
    group_metrics,
    load_pairs,
    load_sample,
    pairs_from_batch,
    positive_ranks,
    rank_metrics,
    sample_keys,
    sample_positions,
    sample_rows,
    store_pair_keys,
)
from pixelated.modeling.train import TrainStageConfig
from tests.conftest import canonical_row, frame
from tests.paths import REPO


def test_pairs_answer_a_seeker_turn_with_most_recent_context_first():
    turns = [
        make_turn("helper", "Hi, how can I help you today my friend?"),
        make_turn("seeker", "I lost my job."),
        make_turn("seeker", "And my flat."),
        make_turn("helper", "That sounds like a lot to carry at once."),
        make_turn("helper", "Second helper turn in a row is not a reply."),
        make_turn("seeker", "Yes."),
        make_turn("helper", "ok"),
    ]
    found = conversation_pairs(turns, context_turns=2, min_response_words=3)
    # the opening helper turn answers nobody; the last reply is too short to select on
    assert found == [(3, "And my flat.\nI lost my job.", "That sounds like a lot to carry at once.")]


def test_pairs_per_conversation_are_capped_and_seeded():
    turns = []
    for i in range(6):
        turns += [make_turn("seeker", f"question {i}"), make_turn("helper", f"a long enough answer {i}")]
    batch = pd.DataFrame(
        [
            {
                "conversation_id": "a" * 16,
                "thread_id": "b" * 16,
                "content_hash": "c" * 16,
                "source": "s",
                "emotion_type": None,
                "problem_type": pd.NA,
                "topic": "t",
                "turns": turns,
            }
        ]
    )
    kwargs = {"context_turns": 1, "min_response_words": 3, "per_conversation": 2}
    first = pairs_from_batch(batch, seed=1, **kwargs)
    assert len(first) == 2 and first["turn_index"].is_monotonic_increasing
    assert first.equals(pairs_from_batch(batch, seed=1, **kwargs))
    assert first["problem_type"].isna().all() and (first["topic"] == "t").all()
    others = {tuple(pairs_from_batch(batch, seed=s, **kwargs)["turn_index"]) for s in range(10)}
    assert len(others) > 1  # not always the first replies


TRAIN = build_config(TrainStageConfig, read_params(REPO / "params.yaml")).train


def exchanges_table(path, conversations: int, exchanges: int):
    """Conversations of `exchanges` (worry, answer) exchanges: a pair for each answer."""
    rows = []
    for i in range(1, conversations + 1):
        turns = [make_turn("seeker", f"worry {i}"), make_turn("helper", f"a long enough answer {i}")]
        rows.append(canonical_row(i, turns * exchanges))
    pq.write_table(pa.Table.from_pandas(frame(rows), CONVERSATION_SCHEMA, preserve_index=False), path)
    return path


def test_a_sample_loaded_in_two_passes_is_the_sample_of_all_pairs(tmp_path):
    """load_sample keeps only the chosen pairs' texts, and picks what sampling them all picks."""
    table = exchanges_table(tmp_path / "train.parquet", 40, 3)
    cfg = TRAIN
    executor = ExecutorConfig(kind="local", batch_size=7)  # batches cross conversations' pairs
    whole = load_pairs(table, cfg, 2, executor)
    for limit in (5, 50, len(whole), None):
        sample, available = load_sample(table, cfg, 2, limit, seed=3, executor=executor)
        pd.testing.assert_frame_equal(sample, sample_rows(whole, limit, 3))
        assert available == len(whole) == 80


def test_candidate_sets_hold_the_positive_and_distinct_others():
    sets = candidate_sets(50, 10, seed=3)
    assert sets.shape == (50, 10)
    assert (sets[:, 0] == np.arange(50)).all()
    assert all(len(set(row)) == 10 for row in sets)
    assert np.array_equal(sets, candidate_sets(50, 10, seed=3))
    assert not np.array_equal(sets, candidate_sets(50, 10, seed=4))
    assert candidate_sets(5, 100, seed=0).shape == (5, 5)  # fewer queries than candidates


def test_ranks_and_metrics_on_known_scores():
    scores = np.array(
        [
            [0.9, 0.1, 0.2],  # own response best: rank 1
            [0.4, 0.5, 0.3],  # one above: rank 2
            [0.7, 0.7, 0.7],  # all tied: ties count against the model, rank 3
        ]
    )
    ranks = positive_ranks(scores)
    assert ranks.tolist() == [1, 2, 3]
    metrics = rank_metrics(ranks, ks=(1, 2))
    assert metrics["recall_at_1"] == pytest.approx(1 / 3)
    assert metrics["recall_at_2"] == pytest.approx(2 / 3)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


@pytest.mark.parametrize("as_matrix", [np.asarray, sparse.csr_matrix])
def test_candidate_scores_are_the_similarity_matrix_at_the_candidates(as_matrix, monkeypatch):
    """Scored a block of queries at a time (blocks of 4 here, the last one short), only the
    candidate sets, dense vectors or sparse ones."""
    monkeypatch.setattr(retrieval, "SCORE_BLOCK_QUERIES", 4)
    rng = np.random.default_rng(0)
    queries, responses = rng.random((10, 6)), rng.random((10, 6))
    queries[3] = 0  # an empty TF-IDF row scores 0 everywhere
    candidates = candidate_sets(10, 5, seed=1)
    expected = np.take_along_axis(queries @ responses.T, candidates, axis=1)
    scores = candidate_scores(as_matrix(queries), as_matrix(responses), candidates)
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert candidate_ranks(as_matrix(queries), as_matrix(responses), candidates)[3] == 5
    assert candidate_scores(queries[:0], responses[:0], candidate_sets(0, 5, seed=1)).shape == (0, 0)


def test_fetched_pairs_come_in_the_order_of_their_keys(tmp_path):
    """One pass fetches several samples of keys, each in its own row order."""
    table, cfg = exchanges_table(tmp_path / "pool.parquet", 20, 2), TRAIN
    executor = ExecutorConfig(kind="local", batch_size=3)
    whole = load_pairs(table, cfg, 2, executor)
    keys = whole[PAIR_KEY]
    samples = [sample_rows(keys, 6, seed) for seed in (1, 2)] + [keys.iloc[:0]]
    fetched = fetch_pairs(table, cfg, 2, executor, samples)
    for sample, pairs in zip(samples, fetched, strict=True):
        pd.testing.assert_frame_equal(pairs[PAIR_KEY], sample.reset_index(drop=True))
    pd.testing.assert_frame_equal(fetched[0], sample_rows(whole, 6, 1))


def test_keys_sampled_in_duckdb_are_the_sample_of_all_pairs(tmp_path):
    """The keys wait in DuckDB; the sample drawn from their count is the one pandas draws."""
    table, cfg = exchanges_table(tmp_path / "pool.parquet", 30, 2), TRAIN
    executor = ExecutorConfig(kind="local", batch_size=4)  # ids c0, c1, ... are not in key order
    keys = load_pairs(table, cfg, 2, executor)[PAIR_KEY]
    with closing(connect(1)) as con:
        store_pair_keys(con, "pairs", table, cfg, 2, executor)
        for limit in (1, 7, 59, 60, None):
            sample, available = sample_keys(con, "pairs", limit, seed=5)
            assert available == len(keys) == 60
            # the same keys; DuckDB hands strings back as pandas' string dtype, not object
            pd.testing.assert_frame_equal(sample, sample_rows(keys, limit, 5), check_dtype=False)


@pytest.mark.parametrize("rows, limit, seed", [(10, 3, 0), (1000, 256, 1), (123457, 10000, 42)])
def test_sample_positions_are_the_rows_pandas_samples(rows, limit, seed):
    frame = pd.DataFrame({"row": np.arange(rows)})
    drawn = frame.sample(n=limit, random_state=seed)["row"].to_numpy()
    np.testing.assert_array_equal(sample_positions(rows, limit, seed), drawn)
    np.testing.assert_array_equal(sample_positions(rows, rows, seed), np.arange(rows))


def test_fairness_table_skips_small_groups():
    pairs = pd.DataFrame(
        {
            "source": ["a", "a", "a", "b"],
            "emotion_type": ["sad", "sad", None, "sad"],
            "problem_type": [None] * 4,
            "topic": [None] * 4,
        }
    )
    table = group_metrics(pairs, {"m": np.array([1, 2, 1, 5])}, ks=(1, 5), min_queries=2)
    rows = {(r.attribute, r.group): r for r in table.itertuples()}
    assert set(rows) == {("source", "a"), ("emotion_type", "sad")}
    assert rows["source", "a"].n == 3 and rows["source", "a"].recall_at_1 == pytest.approx(2 / 3)
    assert rows["emotion_type", "sad"].mrr == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)
