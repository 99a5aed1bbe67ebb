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
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pixelated.core.config import ExecutorConfig
from pixelated.core.hashing import seeded_key_sql
from pixelated.core.shards import parts
from pixelated.core.sql import connect
from pixelated.modeling.config import EvaluateConfig, TrainConfig
from pixelated.modeling.finetune import fitted_then
from pixelated.modeling.retrieval import (
    candidate_ranks,
    candidate_sets,
    encode_pairs,
    fetch_pairs,
    load_pairs,
    sample_keys,
    store_pair_keys,
)

log = logging.getLogger(__name__)

ARMS = ("curated", "random_subset", "passed_dedup")
BASELINE_ARMS = ARMS[1:]
HELD_OUT_KEYS = ("conversation_id", "thread_id", "content_hash")  # what ties conversations together
METRICS = {"recall_at_1": lambda ranks: (ranks <= 1).astype(float), "mrr": lambda ranks: 1.0 / ranks}


@dataclass(frozen=True)
class AblationData:
    pools: duckdb.DuckDBPyConnection  # tables curated_pairs and passed_pairs: the arms' pair keys
    tables: dict[str, Path]  # arm -> the conversation table its pairs come from
    test_pairs: pd.DataFrame  # the un-curated test split's queries, the curated test split's first
    test_sizes: dict[str, int]  # test split name -> its first rows of `test_pairs`
    counts: dict[str, int]


# The keys (HELD_OUT_KEYS) of the conversations of train, validation and test (the curated
# splits) and of passed (everything that passed dedup) are tables of those names.
_OTHERS = """
CREATE TEMP VIEW others AS SELECT * FROM passed ANTI JOIN (
    SELECT conversation_id FROM train UNION ALL SELECT conversation_id FROM validation
    UNION ALL SELECT conversation_id FROM test
) USING (conversation_id)
"""
# the first others in the order of `core.hashing.seeded_key(seed, conversation_id)`
_DRAWN = f"""
CREATE TEMP TABLE drawn AS
SELECT * FROM others ORDER BY {seeded_key_sql("$seed", "conversation_id")}, conversation_id LIMIT $count
"""
_SHARES_TRAINING_THREAD_OR_CONTENT = """coalesce(
    thread_id IN (SELECT thread_id FROM train UNION ALL SELECT thread_id FROM validation)
    OR content_hash IN (SELECT content_hash FROM train UNION ALL SELECT content_hash FROM validation),
    false)"""
_HELD_OUT = "(SELECT * FROM validation UNION ALL SELECT * FROM test UNION ALL SELECT * FROM added)"
# a pair's thread and content are its conversation's: exclusion is decided per conversation
_KEPT = "CREATE TEMP TABLE kept AS SELECT conversation_id FROM passed WHERE coalesce({}, true)".format(
    " AND ".join(
        f"{key} NOT IN (SELECT {key} FROM {_HELD_OUT} WHERE {key} IS NOT NULL)" for key in HELD_OUT_KEYS
    )
)
_EXCLUDED = "SELECT count(DISTINCT conversation_id) FROM pool ANTI JOIN kept USING (conversation_id)"
_PASSED_PAIRS = "CREATE TABLE passed_pairs AS SELECT * FROM pool SEMI JOIN kept USING (conversation_id)"
# the pairs of the conversations at the places `picked` of passed_pairs' sorted distinct ids
_PICKED_PAIRS = """(SELECT * FROM passed_pairs SEMI JOIN (
    SELECT conversation_id FROM (
        SELECT conversation_id, row_number() OVER (ORDER BY conversation_id) - 1 AS pos
        FROM (SELECT DISTINCT conversation_id FROM passed_pairs)
    ) SEMI JOIN picked USING (pos)
) USING (conversation_id))"""


def added_test_conversations(con: duckdb.DuckDBPyConnection, seed: int, sampled: float = 1.0) -> int:
    """Table `added` in `con`: the keys of the not-selected conversations that join the curated
    test split to make the un-curated one. They are the curated test share of them, in a seeded
    hash order, minus those sharing a thread or content with the curated train or validation
    split; returns how many were left out. `sampled` is the share of the curated test queries
    that evaluate ranks (evaluate.max_queries), taken of the added ones too."""
    con.execute(_OTHERS)
    train, validation, test, others = (
        _count(con, name) for name in ("train", "validation", "test", "others")
    )
    share = sampled * test / max(train + validation + test, 1)
    con.execute(_DRAWN, {"seed": str(seed), "count": round(share * others)})
    con.execute(
        f"CREATE TEMP TABLE added AS SELECT * FROM drawn WHERE NOT {_SHARES_TRAINING_THREAD_OR_CONTENT}"
    )
    (left_out,) = con.sql(
        f"SELECT count(*) FROM drawn WHERE {_SHARES_TRAINING_THREAD_OR_CONTENT}"
    ).fetchall()[0]
    return left_out


def training_pools(
    con: duckdb.DuckDBPyConnection,
    splits: Path,
    passed_dedup: Path,
    train: TrainConfig,
    executor: ExecutorConfig,
) -> int:
    """Tables curated_pairs (the train split's pair keys) and passed_pairs (those of
    everything that passed dedup, but for conversations that share an id, thread or content
    with a test conversation or the validation split); returns how many were left out."""
    per_conversation = train.pairs_per_conversation
    store_pair_keys(con, "curated_pairs", splits / "train.parquet", train, per_conversation, executor)
    store_pair_keys(con, "pool", passed_dedup, train, per_conversation, executor)
    con.execute(_KEPT)
    (excluded,) = con.sql(_EXCLUDED).fetchall()[0]
    con.execute(_PASSED_PAIRS)
    con.execute("DROP TABLE pool")
    return excluded


@contextmanager
def ablation_data(
    splits: Path,
    passed_dedup: Path,
    curated_test: pd.DataFrame,
    sampled: float,
    train: TrainConfig,
    executor: ExecutorConfig,
) -> Iterator[AblationData]:
    """The training pools (the keys of their pairs, in DuckDB, which spills them past its cap:
    arms sample keys, then fetch those pairs' texts) and both test splits' query pairs, given
    the headline's test queries, a `sampled` share of the curated test split's."""
    with closing(connect(executor.n_workers)) as con:
        for name in ("train", "validation", "test"):
            _keys_table(con, name, splits / f"{name}.parquet")
        _keys_table(con, "passed", passed_dedup)
        left_out = added_test_conversations(con, train.seed, sampled)
        added = {cid for (cid,) in con.sql("SELECT conversation_id FROM added").fetchall()}
        queries = load_pairs(
            passed_dedup, train, 1, executor, lambda pairs: pairs[pairs["conversation_id"].isin(added)]
        )
        excluded = training_pools(con, splits, passed_dedup, train, executor)
        test_pairs = pd.concat([curated_test, queries], ignore_index=True)
        yield AblationData(
            pools=con,
            tables={"curated": splits / "train.parquet"} | dict.fromkeys(BASELINE_ARMS, passed_dedup),
            test_pairs=test_pairs,
            test_sizes={"curated": len(curated_test), "uncurated": len(test_pairs)},
            counts={
                "added_test_conversations": len(added),
                "added_test_queries": len(queries),
                "added_test_left_out_for_leaks": left_out,
                "passed_dedup_excluded_conversations": excluded,
            },
        )


def _keys_table(con: duckdb.DuckDBPyConnection, name: str, table: Path) -> None:
    """Table `name`: the columns that tie a conversation to others (id, source thread, content).
    Copied in, not a view: DuckDB 2.0.1 ran out of its 128 MB at 12k conversations when its
    Parquet scans fed the exclusion's joins directly."""
    files = [str(part) for part in parts(table)]
    con.read_parquet(files).select(*HELD_OUT_KEYS).to_table(name)


def arm_sample(arm: str, data: AblationData, seed: int, limit: int | None) -> tuple[pd.DataFrame, int, int]:
    """An arm's sample of pair keys for one seed (`sample_rows` of its pool), and how many
    conversations and pairs the pool holds."""
    con, pool = data.pools, "curated_pairs" if arm == "curated" else "passed_pairs"
    if arm == "random_subset":  # as many conversations as curated has, drawn from passed_pairs'
        passed, curated = (
            _count(con, table, "DISTINCT conversation_id") for table in ("passed_pairs", "curated_pairs")
        )
        # `Generator.choice` of the sorted ids draws the ids at the places it draws of their count
        picked = np.random.default_rng(seed).choice(passed, size=min(curated, passed), replace=False)
        con.register("picked", pa.table({"pos": picked}))
        pool = _PICKED_PAIRS
    keys, pairs = sample_keys(con, pool, limit, seed)
    return keys, _count(con, pool, "DISTINCT conversation_id"), pairs


def _count(con: duckdb.DuckDBPyConnection, relation: str, what: str = "*") -> int:
    return con.sql(f"SELECT count({what}) FROM {relation}").fetchall()[0][0]


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


def rank_test_splits(
    model, test_pairs: pd.DataFrame, test_sizes: dict[str, int], cfg: EvaluateConfig
) -> dict[str, np.ndarray]:
    """Rank of each test query's own response, per test split (`AblationData`'s), on
    evaluate's seeded candidate sets (for the curated split, the very sets of the headline
    figures). One encoding serves both splits: the curated one is the first rows of the
    un-curated one."""
    model.eval()
    queries, responses = encode_pairs(model, test_pairs, cfg.encode_batch_size)
    return {
        name: candidate_ranks(queries[:n], responses[:n], candidate_sets(n, cfg.candidates, cfg.seed))
        for name, n in test_sizes.items()
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
            samples[seed, arm], conversations, pairs = arm_sample(arm, data, seed, train.max_pairs)
            pool_sizes["conversations"][arm].append(conversations)
            pool_sizes["pairs"][arm].append(pairs)
    fetched = fetch_samples(data, samples, train, executor)
    rank = partial(rank_test_splits, test_pairs=data.test_pairs, test_sizes=data.test_sizes, cfg=cfg)
    for seed, arm in samples:
        for test, arm_ranks in fitted_then(
            rank, fetched[seed, arm], train.model_copy(update={"seed": seed})
        ).items():
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
        **ablation_report(stacked, rank(pretrained), cfg),
    }
