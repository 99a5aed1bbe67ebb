"""The curation ablation's pools, un-curated test split and intervals, on small tables."""

from contextlib import closing

import numpy as np
import pandas as pd
import pytest

from pixelated.core.config import ExecutorConfig, build_config, read_params
from pixelated.core.hashing import seeded_key
from pixelated.core.sql import connect
from pixelated.modeling import ablation
from pixelated.modeling.ablation import (
    ARMS,
    AblationData,
    ablation_report,
    added_test_conversations,
    arm_sample,
    rank_test_splits,
    seed_query_bootstrap,
    training_pools,
)
from pixelated.modeling.evaluate import EvaluateStageConfig
from pixelated.modeling.retrieval import PAIR_KEY, sample_rows
from tests.paths import REPO

STAGE = build_config(EvaluateStageConfig, read_params(REPO / "params.yaml"))
EVALUATE, TRAIN = STAGE.evaluate, STAGE.train
EXECUTOR = ExecutorConfig(kind="local")


def keys(prefix: str, n: int, threads: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": [f"{prefix}{i}" for i in range(n)],
            "thread_id": threads or [f"t-{prefix}{i}" for i in range(n)],
            "content_hash": [f"h-{prefix}{i}" for i in range(n)],
        }
    )


@pytest.fixture
def splits():
    """Curated splits of 6 / 2 / 2 conversations: the test share is 0.2."""
    return {name: keys(name, n) for name, n in (("train", 6), ("validation", 2), ("test", 2))}


def keys_in_duckdb(tables: dict[str, pd.DataFrame]):
    """A connection with each frame as a view of its name, as `ablation_data` has them as tables."""
    con = connect(1)
    for name, table in tables.items():
        con.from_df(table).create_view(name)
    return con


def added_test(splits: dict, passed: pd.DataFrame, seed: int, sampled: float = 1.0) -> tuple[set[str], int]:
    with closing(keys_in_duckdb(splits | {"passed": passed})) as con:
        left_out = added_test_conversations(con, seed, sampled)
        return {cid for (cid,) in con.sql("SELECT conversation_id FROM added").fetchall()}, left_out


def test_the_uncurated_test_split_adds_the_test_share_of_the_rest_without_leaks(splits):
    # 100 not-selected conversations; every other one answers a thread of the curated train split
    threads = [f"t-train{i % 6}" if i % 2 else f"t-other{i}" for i in range(100)]
    others = keys("other", 100, threads)
    passed = pd.concat([keys("train", 6), keys("validation", 2), keys("test", 2), others])
    added, left_out = added_test(splits, passed, seed=3)
    assert len(added) + left_out == 20 and left_out > 0
    assert added <= set(others["conversation_id"])
    assert not others[others["conversation_id"].isin(added)]["thread_id"].str.startswith("t-train").any()
    assert added_test(splits, passed, seed=3) == (added, left_out)
    assert added_test(splits, passed, seed=4)[0] != added
    # evaluate ranks half the curated test queries: half as many join them, the first drawn ones
    half, half_left_out = added_test(splits, passed, seed=3, sampled=0.5)
    assert len(half) + half_left_out == 10 and half <= added


def test_the_drawn_conversations_come_in_the_seeded_hash_order(splits):
    others = keys("other", 50)
    passed = pd.concat([*splits.values(), others])
    added, left_out = added_test(splits, passed, seed=11)
    expected = sorted(others["conversation_id"], key=lambda cid: seeded_key(11, cid))[:10]
    assert left_out == 0 and added == set(expected)


def test_missing_threads_and_contents_tie_nothing(splits):
    """A conversation without a thread or a content hash is left out only for what it has."""
    splits["train"].loc[0, ["thread_id", "content_hash"]] = None
    others = keys("other", 10, [None] * 10)
    others.loc[0, "content_hash"] = "h-train1"  # the content of a train conversation
    passed = pd.concat([*splits.values(), others])
    added, left_out = added_test(splits, passed, seed=1, sampled=5.0)  # draws all ten
    assert left_out == 1 and added == set(others["conversation_id"][1:])


def test_the_passed_pool_leaves_out_conversations_tied_to_held_out_ones(splits, tmp_path, monkeypatch):
    """Pairs of a conversation that shares an id, thread or content with validation, test or an
    added test conversation leave the passed pool; the curated pool is the train split's."""
    pairs = {
        "train": pairs_of(["train0", "train1"]),
        "passed": pairs_of(["p-kept", "p-thread", "p-content", "validation0", "p-added", "p-none"]),
    }

    def stored(con, name, path, *_):
        con.from_df(pairs[path.stem]).to_table(name)

    monkeypatch.setattr(ablation, "store_pair_keys", stored)
    passed = pd.DataFrame(
        {
            "conversation_id": ["p-kept", "p-thread", "p-content", "validation0", "p-added", "p-none"],
            "thread_id": ["t-a", "t-test1", "t-b", "t-validation0", "t-c", None],
            "content_hash": ["h-a", "h-b", "h-validation1", "h-validation0", "h-c", None],
        }
    )
    added = passed[passed["conversation_id"] == "p-added"]
    with closing(keys_in_duckdb(splits | {"passed": passed, "added": added})) as con:
        excluded = training_pools(con, tmp_path / "splits", tmp_path / "passed.parquet", TRAIN, EXECUTOR)
        pooled = con.sql("SELECT DISTINCT conversation_id FROM passed_pairs ORDER BY ALL").fetchall()
        curated = con.sql("SELECT count(*) FROM curated_pairs").fetchall()[0][0]
    assert pooled == [("p-kept",), ("p-none",)] and excluded == 4 and curated == 4


def pairs_of(conversations: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": [c for c in conversations for _ in range(2)],
            "turn_index": [1, 3] * len(conversations),
        }
    )


def pools(curated: pd.DataFrame, passed: pd.DataFrame) -> AblationData:
    con = keys_in_duckdb({})
    con.from_df(curated).to_table("curated_pairs")
    con.from_df(passed).to_table("passed_pairs")
    return AblationData(con, {}, pd.DataFrame(), {}, {})


def test_the_random_subset_has_the_curated_size_and_is_drawn_per_seed():
    curated, passed = pairs_of(["a", "b", "c"]), pairs_of([*"ponmlkjihgfedcba"])
    data = pools(curated, passed)
    subset, conversations, pairs = arm_sample("random_subset", data, seed=1, limit=None)
    assert conversations == 3 and set(subset["conversation_id"]) <= set("abcdefghijklmnop")
    assert pairs == len(subset) == 6  # all the pairs of the drawn conversations
    # the conversations `Generator.choice` draws of the sorted ids, in the pairs' key order
    drawn = np.random.default_rng(1).choice(sorted("abcdefghijklmnop"), size=3, replace=False)
    assert subset.equals(pairs_of(sorted(drawn)))
    assert arm_sample("random_subset", data, seed=1, limit=None)[0].equals(subset)
    assert set(arm_sample("random_subset", data, seed=2, limit=None)[0]["conversation_id"]) != set(drawn)
    assert arm_sample("random_subset", data, seed=1, limit=4)[0].equals(sample_rows(subset, 4, 1))
    sample, conversations, pairs = arm_sample("passed_dedup", data, seed=5, limit=7)
    assert (conversations, pairs) == (16, 32)
    assert sample.equals(sample_rows(passed.sort_values(PAIR_KEY, ignore_index=True), 7, 5))
    assert arm_sample("curated", data, seed=5, limit=None)[0].equals(curated)
    data.pools.close()


def test_the_interval_holds_the_spread_across_seeds_and_queries():
    assert seed_query_bootstrap(np.full((3, 50), 0.5), 200, seed=0) == [0.5, 0.5]
    low, high = seed_query_bootstrap(np.array([[1.0] * 50, [0.0] * 50, [0.5] * 50]), 500, seed=0)
    assert low < 0.3 and high > 0.7  # one seed learned everything, one nothing: a wide interval
    one_seed_low, one_seed_high = seed_query_bootstrap(np.array([[1.0, 0.0] * 50]), 500, seed=0)
    assert 0.35 < one_seed_low < 0.5 < one_seed_high < 0.65  # only the query sample varies


def test_the_report_gives_each_arm_and_the_paired_gains():
    queries = 40
    ranks = {
        "curated": {"curated": np.ones((2, queries))},
        "random_subset": {"curated": np.full((2, queries), 2.0)},
        "passed_dedup": {"curated": np.ones((2, queries))},
    }
    report = ablation_report(ranks, {"curated": np.full(queries, 4.0)}, EVALUATE)["curated"]
    assert report["queries"] == queries and report["pretrained"] == {"recall_at_1": 0.0, "mrr": 0.25}
    assert {arm: report[arm]["recall_at_1"]["mean"] for arm in ARMS} == {
        "curated": 1.0,
        "random_subset": 0.0,
        "passed_dedup": 1.0,
    }
    gains = report["curation_gain"]
    assert gains["vs_random_subset"]["mrr"] == {"mean": 0.5, "per_seed": [0.5, 0.5], "ci95": [0.5, 0.5]}
    assert gains["vs_passed_dedup"]["recall_at_1"]["mean"] == 0.0


class WordCounts:
    """A stand-in encoder: normalised counts of hashed words, the same vector for a text in any
    batch; a token per word."""

    max_seq_length = 256

    def eval(self):
        return self

    def tokenizer(self, texts, **_):
        return {"attention_mask": np.array([len(t.split()) for t in texts])[:, None]}

    def encode(self, texts, **_):
        vectors = np.zeros((len(texts), 64), np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                vectors[row, sum(map(ord, word)) % 64] += 1
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_one_encoding_ranks_both_test_splits_on_their_own_candidate_sets():
    words = [f"w{i}" for i in range(30)]
    tests = pd.DataFrame(
        {"context": [f"{w} shared words" for w in words], "response": [f"{w} reply" for w in words]}
    )
    ranks = rank_test_splits(WordCounts(), tests, {"curated": 12, "uncurated": 30}, EVALUATE)
    assert {name: len(r) for name, r in ranks.items()} == {"curated": 12, "uncurated": 30}
    alone = rank_test_splits(WordCounts(), tests[:12], {"curated": 12}, EVALUATE)
    assert np.array_equal(ranks["curated"], alone["curated"])
