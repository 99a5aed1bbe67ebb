"""The curation ablation's pools, un-curated test split and intervals, on small tables."""

import numpy as np
import pandas as pd
import pytest

from pixelated.core.config import build_config, read_params
from pixelated.modeling.ablation import (
    ARMS,
    AblationData,
    ablation_report,
    added_test_ids,
    arm_pool,
    rank_test_splits,
    seed_query_bootstrap,
)
from pixelated.modeling.evaluate import EvaluateStageConfig
from tests.paths import REPO

EVALUATE = build_config(EvaluateStageConfig, read_params(REPO / "params.yaml")).evaluate


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


def test_the_uncurated_test_split_adds_the_test_share_of_the_rest_without_leaks(splits):
    # 100 not-selected conversations; every other one answers a thread of the curated train split
    threads = [f"t-train{i % 6}" if i % 2 else f"t-other{i}" for i in range(100)]
    others = keys("other", 100, threads)
    passed = pd.concat([keys("train", 6), keys("validation", 2), keys("test", 2), others])
    added, left_out = added_test_ids(passed, splits, seed=3)
    assert len(added) + left_out == 20 and left_out > 0
    assert added <= set(others["conversation_id"])
    assert not others[others["conversation_id"].isin(added)]["thread_id"].str.startswith("t-train").any()
    assert added_test_ids(passed, splits, seed=3) == (added, left_out)
    assert added_test_ids(passed, splits, seed=4)[0] != added
    # evaluate ranks half the curated test queries: half as many join them, the first drawn ones
    half, half_left_out = added_test_ids(passed, splits, seed=3, sampled=0.5)
    assert len(half) + half_left_out == 10 and half <= added


def pairs_of(conversations: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"conversation_id": [c for c in conversations for _ in range(2)]})


def test_the_random_subset_has_the_curated_size_and_is_drawn_per_seed():
    curated = pairs_of(["a", "b", "c"])
    passed = pairs_of([*"abcdefghijklmnop"])
    data = AblationData({}, curated, passed, pd.DataFrame(), {}, {})
    subset = arm_pool("random_subset", data, seed=1)
    assert subset["conversation_id"].nunique() == 3 and set(subset["conversation_id"]) <= set(
        "abcdefghijklmnop"
    )
    assert len(subset) == 6  # all the pairs of the drawn conversations
    assert subset.equals(arm_pool("random_subset", data, seed=1))
    assert set(arm_pool("random_subset", data, seed=2)["conversation_id"]) != set(subset["conversation_id"])
    assert arm_pool("curated", data, 1) is curated and arm_pool("passed_dedup", data, 1) is passed


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
    """A stand-in encoder: normalised counts of hashed words, the same vector for a text in any batch."""

    def eval(self):
        return self

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
    data = AblationData({}, pd.DataFrame(), pd.DataFrame(), tests, {"curated": 12, "uncurated": 30}, {})
    ranks = rank_test_splits(WordCounts(), data, EVALUATE)
    assert {name: len(r) for name, r in ranks.items()} == {"curated": 12, "uncurated": 30}
    alone = AblationData({}, pd.DataFrame(), pd.DataFrame(), tests[:12], {"curated": 12}, {})
    assert np.array_equal(ranks["curated"], rank_test_splits(WordCounts(), alone, EVALUATE)["curated"])
