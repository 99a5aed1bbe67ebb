"""Does curation help? The same fine-tuning budget spent on three training pools, several seeds
each, scored on a curated and an un-curated test split.

Arms (each samples `train.max_pairs` pairs and trains `train.epochs` epochs, no early stopping,
so they differ only in where the pairs come from):
- `curated`: the train split (deduped, length-filtered, quality-selected);
- `random_subset`: as many conversations as the train split has, drawn per seed at random from
  everything that passed dedup;
- `passed_dedup`: everything that passed dedup.

Test splits: `curated` is the headline test split. `uncurated` adds to it the same share of the
conversations that passed dedup but were not selected (picked in a seeded hash order), so it stands
for the population before curation. Both un-curated pools exclude every conversation, source
thread and exact content of validation and of both test splits; added test conversations that
share a thread or content with the curated train or validation split are left out, so no arm
has seen a test context.

Every figure is a mean over seeds with a 95% bootstrap interval that resamples both seeds and
test queries; the gains are paired (same seed index, same queries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.config import ExecutorConfig
from pixelated.core.hashing import seeded_key
from pixelated.core.tableio import to_pandas
from pixelated.modeling.config import EvaluateConfig, TrainConfig
from pixelated.modeling.finetune import fit
from pixelated.modeling.retrieval import (
    HELD_OUT_KEYS,
    candidate_ranks,
    candidate_sets,
    encode_pairs,
    exclude_held_out,
    fetch_pairs,
    load_keys,
    load_pairs,
    sample_rows,
)

log = logging.getLogger(__name__)

ARMS = ("curated", "random_subset", "passed_dedup")
BASELINE_ARMS = ARMS[1:]
METRICS = {"recall_at_1": lambda ranks: (ranks <= 1).astype(float), "mrr": lambda ranks: 1.0 / ranks}


@dataclass(frozen=True)
class AblationData:
    tables: dict[str, Path]  # arm -> the conversation table its pairs come from
    curated_keys: pd.DataFrame  # the train split's pairs, keys only
    passed_keys: pd.DataFrame  # pairs of everything that passed dedup minus all held-out keys, keys only
    test_pairs: pd.DataFrame  # the un-curated test split's queries, the curated test split's first
    test_sizes: dict[str, int]  # test split name -> its first rows of `test_pairs`
    counts: dict[str, int]


def _keys(path: Path) -> pd.DataFrame:
    """The columns that tie a conversation to others: id, source thread, exact content."""
    return to_pandas(pq.read_table(path, columns=list(HELD_OUT_KEYS)))


def added_test_ids(
    passed: pd.DataFrame, curated: dict[str, pd.DataFrame], seed: int, sampled: float = 1.0
) -> tuple[set[str], int]:
    """Ids of the not-selected conversations that join the curated test split to make the
    un-curated one: the curated test share of them, in a seeded hash order, minus those sharing a
    thread or content with the curated train or validation split. Also: how many were left out.
    `curated` maps each split to its conversations' keys; `sampled` is the share of the curated
    test queries that evaluate ranks (evaluate.max_queries), taken of the added ones too."""
    share = sampled * len(curated["test"]) / max(sum(map(len, curated.values())), 1)
    selected = set().union(*(set(frame["conversation_id"]) for frame in curated.values()))
    others = passed[~passed["conversation_id"].isin(selected)]
    order = sorted(others["conversation_id"], key=lambda cid: seeded_key(seed, cid))
    drawn = others[others["conversation_id"].isin(set(order[: round(share * len(order))]))]
    seen = pd.concat([curated["train"], curated["validation"]])
    leaks = drawn["thread_id"].isin(set(seen["thread_id"].dropna())) | drawn["content_hash"].isin(
        set(seen["content_hash"].dropna())
    )
    return set(drawn.loc[~leaks, "conversation_id"]), int(leaks.sum())


def load_ablation_data(
    splits: Path,
    passed_dedup: Path,
    curated_test: pd.DataFrame,
    sampled: float,
    train: TrainConfig,
    executor: ExecutorConfig,
) -> AblationData:
    """The training pools (the keys of their pairs: arms sample keys, then fetch those pairs' texts)
    and both test splits' query pairs, given the headline's test queries, a `sampled` share of
    the curated test split's."""
    curated = {name: _keys(splits / f"{name}.parquet") for name in ("train", "validation", "test")}
    passed = _keys(passed_dedup)
    added, left_out = added_test_ids(passed, curated, train.seed, sampled)
    queries = load_pairs(
        passed_dedup, train, 1, executor, lambda pairs: pairs[pairs["conversation_id"].isin(added)]
    )
    test_pairs = pd.concat([curated_test, queries], ignore_index=True)
    held_out = pd.concat(
        [curated["validation"], curated["test"], passed[passed["conversation_id"].isin(added)]]
    )
    # a pair's thread and content are its conversation's: exclusion is decided per conversation
    kept = exclude_held_out(passed, held_out)
    per_conversation = train.pairs_per_conversation
    pool = load_keys(passed_dedup, train, per_conversation, executor)
    leaked = ~pool["conversation_id"].isin(kept["conversation_id"])
    excluded = int(pool.loc[leaked, "conversation_id"].nunique())
    counts = {
        "added_test_conversations": len(added),
        "added_test_queries": len(queries),
        "added_test_left_out_for_leaks": left_out,
        "passed_dedup_excluded_conversations": excluded,
    }
    sizes = {"curated": len(curated_test), "uncurated": len(test_pairs)}
    return AblationData(
        tables={"curated": splits / "train.parquet"} | dict.fromkeys(BASELINE_ARMS, passed_dedup),
        curated_keys=load_keys(splits / "train.parquet", train, per_conversation, executor),
        passed_keys=pool[~leaked].reset_index(drop=True),
        test_pairs=test_pairs,
        test_sizes=sizes,
        counts=counts,
    )


def arm_pool(arm: str, data: AblationData, seed: int) -> pd.DataFrame:
    """The keys of the pairs an arm samples its budget from, for one seed."""
    if arm == "curated":
        return data.curated_keys
    if arm == "passed_dedup":
        return data.passed_keys
    conversations = np.sort(data.passed_keys["conversation_id"].unique())
    size = min(data.curated_keys["conversation_id"].nunique(), len(conversations))
    picked = np.random.default_rng(seed).choice(conversations, size=size, replace=False)
    return data.passed_keys[data.passed_keys["conversation_id"].isin(set(picked))].reset_index(drop=True)


def fetch_samples(
    data: AblationData,
    samples: dict[tuple[int, str], pd.DataFrame],
    train: TrainConfig,
    executor: ExecutorConfig,
) -> dict[tuple[int, str], pd.DataFrame]:
    """The pairs of every (seed, arm) sample of keys, one pass over each arm's table."""
    fetched = {}
    for table in sorted(set(data.tables.values())):
        wanted = [key for key in samples if data.tables[key[1]] == table]
        chosen = [samples[key] for key in wanted]
        frames = fetch_pairs(table, train, train.pairs_per_conversation, executor, chosen)
        fetched.update(zip(wanted, frames, strict=True))
    return fetched


def rank_test_splits(model, data: AblationData, cfg: EvaluateConfig) -> dict[str, np.ndarray]:
    """Rank of each test query's own response, per test split, on evaluate's seeded candidate
    sets (for the curated split, the very sets of the headline figures). One encoding serves
    both splits: the curated one is the first rows of the un-curated one."""
    model.eval()
    queries, responses = encode_pairs(model, data.test_pairs, cfg.encode_batch_size)
    return {
        name: candidate_ranks(queries[:n], responses[:n], candidate_sets(n, cfg.candidates, cfg.seed))
        for name, n in data.test_sizes.items()
    }


def seed_query_bootstrap(values: np.ndarray, rounds: int, seed: int) -> list[float]:
    """95% percentile interval of the mean of a (seeds, queries) array when both the seeds and
    the queries are resampled: it holds the spread from training and from the test sample."""
    rng = np.random.default_rng(seed)
    n_seeds, n_queries = values.shape
    means = [
        values[rng.integers(0, n_seeds, n_seeds)][:, rng.integers(0, n_queries, n_queries)].mean()
        for _ in range(rounds)
    ]
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def summarise(values: np.ndarray, rounds: int, seed: int) -> dict:
    """Mean over seeds, each seed's value and the seed-and-query bootstrap interval."""
    return {
        "mean": round(float(values.mean()), 4),
        "per_seed": [round(float(v), 4) for v in values.mean(axis=1)],
        "ci95": seed_query_bootstrap(values, rounds, seed),
    }


def ablation_report(ranks: dict[str, dict[str, np.ndarray]], pretrained: dict, cfg: EvaluateConfig) -> dict:
    """Per test split: each arm's recall@1 and MRR, the un-tuned model's, and the paired gains
    of the curated arm over the other two. `ranks[arm][test]` is a (seeds, queries) array."""
    rounds = cfg.ablation.bootstrap_rounds
    report = {}
    for test, reference in pretrained.items():
        per_query = {arm: {m: f(ranks[arm][test]) for m, f in METRICS.items()} for arm in ARMS}
        gains = {
            f"vs_{arm}": {m: per_query["curated"][m] - per_query[arm][m] for m in METRICS}
            for arm in BASELINE_ARMS
        }
        report[test] = {
            "queries": int(reference.size),
            "pretrained": {m: round(float(f(reference).mean()), 4) for m, f in METRICS.items()},
            **{arm: {m: summarise(v, rounds, cfg.seed) for m, v in per_query[arm].items()} for arm in ARMS},
            "curation_gain": {
                name: {m: summarise(v, rounds, cfg.seed) for m, v in gain.items()}
                for name, gain in gains.items()
            },
        }
    return report


def run_ablation(
    data: AblationData, pretrained, train: TrainConfig, cfg: EvaluateConfig, executor: ExecutorConfig
) -> dict:
    """Fit every arm under every seed, rank both test splits, and summarise."""
    pretrained.max_seq_length = train.max_seq_length  # every model reads as much context
    ranks: dict[str, dict[str, list[np.ndarray]]] = {
        arm: {test: [] for test in data.test_sizes} for arm in ARMS
    }
    pool_sizes = {unit: {arm: [] for arm in ARMS} for unit in ("conversations", "pairs")}
    samples = {}
    for seed in cfg.ablation.seeds:
        for arm in ARMS:
            pool = arm_pool(arm, data, seed)
            pool_sizes["conversations"][arm].append(int(pool["conversation_id"].nunique()))
            pool_sizes["pairs"][arm].append(len(pool))
            samples[seed, arm] = sample_rows(pool, train.max_pairs, seed)
    fetched = fetch_samples(data, samples, train, executor)
    for seed, arm in samples:
        model, _ = fit(fetched[seed, arm], None, train.model_copy(update={"seed": seed}))
        for test, arm_ranks in rank_test_splits(model, data, cfg).items():
            ranks[arm][test].append(arm_ranks)
        log.info("ablation seed %d, %s: %d pairs", seed, arm, len(fetched[seed, arm]))
    stacked = {arm: {test: np.stack(r) for test, r in per_test.items()} for arm, per_test in ranks.items()}
    budget = {
        "pairs": train.max_pairs,
        "epochs": train.epochs,
        "seeds": cfg.ablation.seeds,
        "early_stopping": False,
    }
    return {
        "budget": budget,
        **{f"pool_{unit}_per_seed": sizes for unit, sizes in pool_sizes.items()},
        **data.counts,
        **ablation_report(stacked, rank_test_splits(pretrained, data, cfg), cfg),
    }
