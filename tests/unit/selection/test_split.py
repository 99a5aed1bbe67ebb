"""Splits: proportions, stratification, groups kept on one side, determinism, CV folds, and the
stage routing every row to one split."""

import json

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixelated.core.config import ConfigError, build_config, read_params
from pixelated.core.hashing import seeded_key
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLITS
from pixelated.selection.split import SplitPaths, SplitPlan, SplitStageConfig, _seeded_order, run
from tests.conftest import canonical_row, frame
from tests.paths import REPO


def _conversations(n_per_source: int = 400, answers_per_thread: int = 1) -> pd.DataFrame:
    rows = []
    for source in ("a", "b", "c"):
        for i in range(n_per_source):
            rows.append(
                {
                    "conversation_id": f"{source}{i:015d}"[:16],
                    "source": source,
                    "thread_id": f"{source}-t{i // answers_per_thread}",
                    "content_hash": f"{source}{i}",
                    "quality_tier": "recommended" if i % 3 else "production",
                }
            )
    return pd.DataFrame(rows)


def _plan(conversations: pd.DataFrame, *args, clusters: pd.Series | None = None) -> SplitPlan:
    """A plan of `conversations` (fractions, seed, cv_folds, cv_below), fed in two batches."""
    keys = pa.Table.from_pandas(conversations, preserve_index=False).to_batches(max_chunksize=700)
    if clusters is not None:
        clusters = pa.table({"conversation_id": clusters.index, "group_id": clusters.to_numpy()})
    return SplitPlan(keys, *args, clusters=clusters)


def make_splits(conversations: pd.DataFrame, *args, clusters: pd.Series | None = None) -> pd.DataFrame:
    with _plan(conversations, *args, clusters=clusters) as plan:
        return pd.concat(plan.frames(), ignore_index=True)


def test_proportions_are_70_15_15_within_every_stratum():
    with _plan(_conversations(), [0.7, 0.15, 0.15], 1, 5, 0) as plan:
        shares = plan.proportions()
    assert shares["overall"] == pytest.approx({"train": 0.7, "validation": 0.15, "test": 0.15}, abs=0.01)
    for stratum, split_shares in shares["by_stratum"].items():
        assert split_shares == pytest.approx({"train": 0.7, "validation": 0.15, "test": 0.15}, abs=0.02), (
            stratum
        )


def test_threads_and_dedup_clusters_stay_on_one_side():
    conversations = _conversations(answers_per_thread=4)
    # plant near-duplicates across sources: dedup put a0.. and b0.. in one cluster
    clusters = pd.Series(
        {"a000000000000000": "dup-1", "b000000000000000": "dup-1", "c000000000000007": "dup-1"}
    )
    conversations.loc[conversations["conversation_id"].isin(clusters.index), "content_hash"] = "same"
    with _plan(conversations, [0.7, 0.15, 0.15], 3, 5, 0, clusters=clusters) as plan:
        assert plan.leakage() == {"groups_across_splits": 0, "identical_content_across_splits": 0}
        assignments = pd.concat(plan.frames(), ignore_index=True)
    planted = assignments[assignments["conversation_id"].isin(clusters.index)]
    assert planted["split"].nunique() == 1
    per_thread = (
        assignments.merge(conversations, on="conversation_id").groupby("thread_id")["split"].nunique()
    )
    assert (per_thread == 1).all()


def test_same_seed_same_splits_other_seed_differs():
    conversations = _conversations()
    first = make_splits(conversations, [0.7, 0.15, 0.15], 7, 5, 0)
    again = make_splits(conversations.sample(frac=1, random_state=0), [0.7, 0.15, 0.15], 7, 5, 0)
    other = make_splits(conversations, [0.7, 0.15, 0.15], 8, 5, 0)
    pd.testing.assert_frame_equal(first, again)
    assert not first["split"].equals(other["split"])


def test_cv_folds_only_below_threshold_and_never_on_test():
    conversations = _conversations()
    without = make_splits(conversations, [0.7, 0.15, 0.15], 1, 5, len(conversations))
    assert without["fold"].isna().all()
    with_folds = make_splits(conversations, [0.7, 0.15, 0.15], 1, 5, len(conversations) + 1)
    assert with_folds.loc[with_folds["split"] == "test", "fold"].isna().all()
    folds = with_folds.loc[with_folds["split"] != "test", "fold"]
    assert sorted(folds.unique()) == [0, 1, 2, 3, 4]
    assert folds.value_counts(normalize=True).between(0.18, 0.22).all()


def test_groups_are_taken_in_seeded_key_order():
    """The plan orders groups in SQL by the same sha256 as `seeded_key`, which keeps the splits
    of earlier releases."""
    groups = pd.DataFrame({"group": [f"g{i}" for i in range(50)], "stratum": "s", "size": 1})
    ordered = duckdb.sql(_seeded_order("SELECT * FROM groups"), params=["11"]).df()["group"]
    assert list(ordered) == sorted(groups["group"], key=lambda g: seeded_key(11, g))


def test_routing_refuses_rows_the_plan_was_not_made_from():
    conversations = _conversations(10)
    with _plan(conversations, [0.7, 0.15, 0.15], 1, 5, 0) as plan:
        routed = list(plan.with_sides([conversations.iloc[:20], conversations.iloc[20:]]))
        assert [len(side) for _, side in routed] == [20, 10]
        for other in (
            [conversations.iloc[::-1]],
            [conversations.iloc[:29]],
            [conversations, conversations[:1]],
        ):
            with pytest.raises(ValueError, match="not the ones the plan was made from"):
                list(plan.with_sides(other))  # reordered, one row short, one row more


def test_repeated_ids_are_refused():
    conversations = _conversations(10)
    with pytest.raises(ValueError, match="2 repeated conversation ids"):
        _plan(pd.concat([conversations, conversations.iloc[:2]]), [0.7, 0.15, 0.15], 1, 5, 0)


def test_nothing_selected_gives_empty_splits(tmp_path):
    """A strict gate can leave select with no conversation: split writes empty files and zeros."""
    source, clusters = tmp_path / "selected.parquet", tmp_path / "clusters.parquet"
    pq.write_table(CONVERSATION_SCHEMA.empty_table(), source)
    pq.write_table(
        pa.table({"conversation_id": pa.array([], pa.string()), "group_id": pa.array([], pa.string())}),
        clusters,
    )
    paths = SplitPaths(source, tmp_path / "splits", clusters, tmp_path / "ledger.json", tmp_path / "m.json")
    run(stage_config(), paths)
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["conversations"] == dict.fromkeys(SPLITS, 0) and metrics["groups"] == 0
    assert metrics["proportions"] == {"overall": dict.fromkeys(SPLITS, 0.0), "by_stratum": {}}
    assert all(pq.read_table(paths.output / f"{name}.parquet").num_rows == 0 for name in SPLITS)


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        make_splits(_conversations(10), [0.7, 0.2, 0.2], 1, 5, 0)


def stage_config(**split_changes) -> SplitStageConfig:
    params = read_params(REPO / "params.yaml")
    return build_config(SplitStageConfig, {**params, "split": {**params["split"], **split_changes}})


def test_bad_fractions_name_the_key():
    with pytest.raises(ConfigError, match=r"split\.fractions.*sum to 1"):
        stage_config(fractions=[0.7, 0.2, 0.2])


def test_stage_routes_every_row_to_one_split(tmp_path):
    """The stage: each conversation lands in exactly one split file, nothing is dropped, the
    ledger balances, and a dedup cluster (here: rows 0 and 1) stays on one side."""
    rows = [canonical_row(i) for i in range(1, 61)]
    source = tmp_path / "selected.parquet"
    pq.write_table(pa.Table.from_pandas(frame(rows), CONVERSATION_SCHEMA, preserve_index=False), source)
    ids = [row["conversation_id"] for row in rows]
    groups = pd.DataFrame({"conversation_id": ids, "group_id": [ids[0], *ids[:1], *ids[2:]]})
    groups.to_parquet(tmp_path / "clusters.parquet")
    paths = SplitPaths(
        source,
        tmp_path / "splits",
        tmp_path / "clusters.parquet",
        tmp_path / "ledger.json",
        tmp_path / "m.json",
    )
    run(stage_config(), paths)
    written = {name: pq.read_table(paths.output / f"{name}.parquet") for name in SPLITS}
    assert sorted(i for table in written.values() for i in table["conversation_id"].to_pylist()) == sorted(
        ids
    )
    assert all(table.schema.names == CONVERSATION_SCHEMA.names for table in written.values())
    ledger = json.loads(paths.ledger.read_text())
    assert (ledger["rows_in"], ledger["rows_out"], ledger["rows_dropped"]) == (60, 60, 0)
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["conversations"] == {name: table.num_rows for name, table in written.items()}
    assert metrics["leakage"] == {
        "groups_across_splits": 0,
        "identical_content_across_splits": 0,
        "near_duplicate_pairs_across_splits": 0,
    }
    assignments = pq.read_table(paths.output / "assignments.parquet").to_pandas().set_index("conversation_id")
    assert assignments.loc[ids[0], "split"] == assignments.loc[ids[1], "split"]
