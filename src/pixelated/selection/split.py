"""split: deterministic, group-aware, stratified splits (and CV folds for small datasets),
planned in DuckDB (`SplitPlan`) and written by routing the input's batches."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AfterValidator, Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.hashing import seeded_key_sql
from pixelated.core.runner import BatchResult, Output, run_batches
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLIT_ASSIGNMENT_SCHEMA, SPLITS, SplitAssignmentSchema
from pixelated.core.shards import parts
from pixelated.core.tableio import ValidatedWriter, parquet_file, read_batches, rechunked, to_pandas
from pixelated.core.unionfind import components
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import near_duplicate_pairs
from pixelated.dedup.clusters import CHUNK_ROWS, connect
from pixelated.dedup.config import DedupConfig, NearConfig
from pixelated.dedup.features import conversation_features, table_features

KEY_COLUMNS = ["conversation_id", "source", "thread_id", "content_hash"]


def check_fractions(fractions: Sequence[float]) -> Sequence[float]:
    """The one check of split fractions: for params.yaml (ConfigError) and for `make_splits`."""
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions {list(fractions)} do not sum to 1")
    return fractions


class SplitConfig(Config):
    fractions: Annotated[tuple[float, float, float], AfterValidator(check_fractions)]  # train, val, test
    seed: int
    cv_folds: int = Field(ge=2)
    cv_below: int = Field(ge=0, description="CV folds only for datasets with fewer conversations")


class SplitStageConfig(Config):
    split: SplitConfig
    dedup: DedupConfig  # only `dedup.near`: the leakage check reuses dedup's MinHash settings
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


@dataclass(frozen=True)
class SplitPaths:
    input: Path
    output: Path  # folder for assignments.parquet and <split>.parquet
    clusters: Path  # dedup's cluster table, for group_id
    ledger: Path
    metrics: Path


def run(cfg: SplitStageConfig, paths: SplitPaths) -> None:
    split = cfg.split
    # before the plan, so that the features and the plan's tables are never held together
    near_pairs = near_duplicate_rows(paths.input, cfg.dedup.near, cfg.executor)
    with SplitPlan(
        key_batches(paths.input),
        split.fractions,
        split.seed,
        split.cv_folds,
        split.cv_below,
        clusters=paths.clusters,
        threads=cfg.executor.n_workers,
    ) as plan:
        paths.output.mkdir(parents=True, exist_ok=True)
        with ValidatedWriter(
            paths.output / "assignments.parquet", SPLIT_ASSIGNMENT_SCHEMA, SplitAssignmentSchema
        ) as writer:
            for frame in plan.frames():
                writer.write(frame)
        written = write_splits(cfg, paths, plan)
        metrics = {
            "conversations": {name: written[name] for name in SPLITS},
            "proportions": plan.proportions(),
            "leakage": {
                **plan.leakage(),
                "near_duplicate_pairs_across_splits": plan.near_duplicate_leakage(near_pairs),
            },
            **plan.counts(),
        }
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def key_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """What the split needs of each conversation, in input order; select adds the quality
    tier that split stratifies by."""
    tier = ["quality_tier"] if "quality_tier" in pq.read_schema(parts(path)[0]).names else []
    for part in parts(path):
        yield from parquet_file(part).iter_batches(batch_size=CHUNK_ROWS, columns=KEY_COLUMNS + tier)


def write_splits(cfg: SplitStageConfig, paths: SplitPaths, plan: SplitPlan) -> Counter[str]:
    """Route every input conversation to `<split>.parquet`; the rows written per split."""
    check = canonical_schema(cfg.validate_.max_turn_chars)
    written: Counter[str] = Counter()
    run_batches(
        "split",
        route,
        plan.with_sides(read_batches(paths.input, cfg.executor.batch_size)),
        outputs={
            name: Output(paths.output / f"{name}.parquet", CONVERSATION_SCHEMA, check) for name in SPLITS
        },
        quarantine=None,
        ledger=paths.ledger,
        executor=cfg.executor,
        total=plan.size,
        on_result=lambda result: written.update({name: len(part) for name, part in result.kept.items()}),
    )
    return written


def route(payload: tuple[pd.DataFrame, np.ndarray]) -> BatchResult:
    """One batch, with the split of each row, by split; nothing is dropped."""
    batch, side = payload
    batch = batch[CONVERSATION_SCHEMA.names]  # splits hold the canonical columns only
    parts = {name: batch[side == name].reset_index(drop=True) for name in SPLITS}
    return BatchResult(batch["source"], parts)


def near_duplicate_rows(path: Path, near: NearConfig, executor: ExecutorConfig) -> np.ndarray:
    """The input's near-duplicate pairs (dedup's MinHash LSH + Jaccard check) as (k, 2) input
    rows: features are in input order, so a pair's rows are its conversations' input rows."""
    with table_features(path, partial(conversation_features, near=near), executor) as features:
        pairs, _ = near_duplicate_pairs(features, near)  # (0, 2) when the input is empty
    return pairs


# The plan's tables, in the order they are made:
#   ordered      the input's keys; `pos`, the rank of conversation_id; `input_row`, its place
#   members      conversation -> group: the smallest conversation_id of its connected component
#   groups       group -> stratum (of that smallest member), size in conversations
#   split_of, fold_of   group -> name, by `SplitPlan._assign`
#   assignments  conversation -> group, split, fold, with what the metrics count by
_KEYS = """
CREATE TABLE keys (input_row BIGINT, conversation_id VARCHAR, source VARCHAR, thread_id VARCHAR,
    content_hash VARCHAR, quality_tier VARCHAR)
"""
_ORDERED = (
    "CREATE TABLE ordered AS SELECT row_number() OVER (ORDER BY conversation_id) - 1 AS pos, * FROM keys"
)
# Each conversation links to the first member of its thread and of its dedup group.
_LINKS = """
SELECT pos, first FROM (
    SELECT pos, min(pos) OVER (PARTITION BY thread_id) AS first FROM ordered WHERE thread_id IS NOT NULL
    UNION ALL
    SELECT pos, min(pos) OVER (PARTITION BY group_id) AS first
    FROM ordered JOIN cluster_groups USING (conversation_id) WHERE group_id IS NOT NULL
) WHERE pos != first
"""
_MEMBERS = """
CREATE TABLE members AS
SELECT o.input_row, o.conversation_id, o.source, o.quality_tier, o.content_hash, r.conversation_id AS "group"
FROM ordered o LEFT JOIN moved USING (pos) JOIN ordered r ON r.pos = coalesce(moved.root, o.pos)
"""
_GROUPS = """
CREATE TABLE groups AS
SELECT m."group", r.source || '|' || r.quality_tier AS stratum, m.size
FROM (SELECT "group", count(*) AS size FROM members GROUP BY "group") m
JOIN ordered r ON r.conversation_id = m."group"
"""
_ASSIGNMENTS = """
CREATE TABLE assignments AS
SELECT conversation_id, "group", s.name AS split, CAST(f.name AS BIGINT) AS fold, input_row, content_hash,
    source, quality_tier
FROM members JOIN split_of s USING ("group") LEFT JOIN fold_of f USING ("group")
"""
_NOT_PLANNED = "split: the input's rows are not the ones the plan was made from"
_ACROSS = """
SELECT count(*) FROM (
    SELECT {key} FROM assignments WHERE {key} IS NOT NULL GROUP BY ALL HAVING count(DISTINCT split) > 1
)
"""


def _seeded_order(groups: str) -> str:
    """The rows of `groups` (a query giving group, stratum, size) by stratum, each stratum in
    the order of `core.hashing.seeded_key(seed, group)`, the seed the query's one parameter;
    ties cannot happen but would fall back to the group."""
    order = seeded_key_sql("?", '"group"')
    return f'SELECT "group", stratum, size FROM ({groups}) ORDER BY stratum, {order}, "group"'


class SplitPlan:
    """Group-aware, stratified splits (and CV folds) of one input, held in DuckDB whose sorts
    and joins spill to disk, so that memory does not grow with the input beyond a few
    integers per conversation (the links between them, for the group components).

    A group is everything that must stay on one side: a source thread (counsel-chat answers
    to one question) joined with a dedup group (`clusters`: a table or Parquet file of
    conversation_id -> group_id). Groups are assigned within each stratum (source x quality
    tier) to the split furthest below its target share, in an order fixed by a seeded hash,
    so the same input and seed always give the same splits, whatever the input's order.
    """

    def __init__(
        self,
        keys: Iterable[pa.RecordBatch],
        fractions: Sequence[float],
        seed: int,
        cv_folds: int,
        cv_below: int,
        clusters: Path | pa.Table | None = None,
        threads: int = 2,
    ):
        check_fractions(fractions)
        self.con = connect(threads)
        self.size = self._load(keys)
        self._cluster_groups(clusters)
        self._group()
        self._assign("split_of", "FROM groups", SPLITS, fractions, seed)
        # CV folds over train+validation, only for datasets under `cv_below` conversations
        pool = "FROM groups JOIN split_of USING (\"group\") WHERE name != 'test'"
        folds = tuple(str(k) for k in range(cv_folds))
        every_fold = [1 / cv_folds] * cv_folds
        self._assign(
            "fold_of", pool if self.size < cv_below else "FROM groups LIMIT 0", folds, every_fold, seed + 1
        )
        self.con.execute(_ASSIGNMENTS)
        self.con.execute("DROP TABLE members; DROP TABLE groups; DROP TABLE split_of; DROP TABLE fold_of")

    def _load(self, keys: Iterable[pa.RecordBatch]) -> int:
        self.con.execute(_KEYS)
        rows = 0
        for batch in keys:
            table = pa.Table.from_batches([batch])
            table = table.append_column("input_row", pa.array(np.arange(rows, rows + len(table))))
            if "quality_tier" not in table.column_names:  # 'unscored' until a scoring stage gives one
                table = table.append_column("quality_tier", pa.array(["unscored"] * len(table), pa.string()))
            self._insert("keys", table)
            rows += len(table)
        self.con.execute(_ORDERED)
        self.con.execute("DROP TABLE keys")
        repeated = self._count("SELECT count(*) - count(DISTINCT conversation_id) FROM ordered")
        if repeated:  # one id, one place: ids name groups and route rows
            raise ValueError(f"split: {repeated} repeated conversation ids in the input")
        return rows

    def _insert(self, name: str, table: pa.Table) -> None:
        self.con.register("chunk", table)
        self.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM chunk")
        self.con.unregister("chunk")

    def _cluster_groups(self, clusters: Path | pa.Table | None) -> None:
        self.con.execute("CREATE TABLE cluster_groups (conversation_id VARCHAR, group_id VARCHAR)")
        if isinstance(clusters, Path):
            self.con.execute(
                "INSERT INTO cluster_groups SELECT conversation_id, group_id FROM read_parquet(?)",
                [str(clusters)],
            )
        elif clusters is not None:
            self._insert("cluster_groups", clusters.select(["conversation_id", "group_id"]))

    def _group(self) -> None:
        """Connected components over positions: integers are all that Python holds."""
        links = self.con.execute(_LINKS).fetchnumpy()
        roots = components(self.size, np.column_stack([links["pos"], links["first"]]))
        moved = np.flatnonzero(roots != np.arange(self.size))
        self.con.register("moved", pa.table({"pos": moved, "root": roots[moved]}))
        self.con.execute(_MEMBERS)
        self.con.unregister("moved")
        self.con.execute(_GROUPS)
        self.con.execute("DROP TABLE ordered")

    def _assign(
        self, name: str, groups: str, names: tuple[str, ...], fractions: Sequence[float], seed: int
    ) -> None:
        """Greedy by deficit: each group goes to the name whose share of its stratum is furthest
        below target after adding it, which keeps every stratum close to the fractions.
        `groups` (SQL after SELECT ...) gives group, stratum and size."""
        self.con.execute(f'CREATE TABLE {name} ("group" VARCHAR, name VARCHAR)')
        query = _seeded_order(f"SELECT * {groups}")
        reader = self.con.cursor().sql(query, params=[str(seed)]).to_arrow_reader(CHUNK_ROWS)
        stratum_now, counts = None, {}
        for batch in reader:
            chosen = []
            for stratum, size in zip(batch["stratum"].to_pylist(), batch["size"].to_pylist(), strict=True):
                if stratum != stratum_now:
                    stratum_now, counts = stratum, dict.fromkeys(names, 0)
                total = sum(counts.values()) + size
                target = max(names, key=lambda n: fractions[names.index(n)] * total - counts[n])
                counts[target] += size
                chosen.append(target)
            self._insert(name, pa.table({"group": batch["group"], "name": pa.array(chosen, pa.string())}))

    def frames(self, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """conversation_id -> group, split, fold, sorted by conversation_id, `rows` at a time."""
        query = 'SELECT conversation_id, "group", split, fold FROM assignments ORDER BY conversation_id'
        for table in rechunked(self.con.cursor().sql(query).to_arrow_reader(rows), rows):
            yield to_pandas(table)

    def with_sides(self, batches: Iterable[pd.DataFrame]) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Each input batch, in input order, with the split of each of its rows."""
        query = "SELECT conversation_id, split FROM assignments ORDER BY input_row"
        planned = iter(self.con.cursor().sql(query).to_arrow_reader(CHUNK_ROWS))
        ids, sides = np.empty(0, object), np.empty(0, object)
        for batch in batches:
            while len(ids) < len(batch) and (more := next(planned, None)) is not None:
                ids = np.concatenate([ids, more["conversation_id"].to_numpy(zero_copy_only=False)])
                sides = np.concatenate([sides, more["split"].to_numpy(zero_copy_only=False)])
            if not np.array_equal(ids[: len(batch)], batch["conversation_id"].to_numpy(object)):
                raise ValueError(_NOT_PLANNED)
            yield batch, sides[: len(batch)]
            ids, sides = ids[len(batch) :], sides[len(batch) :]
        if len(ids) or next(planned, None) is not None:
            raise ValueError(_NOT_PLANNED)

    def _count(self, query: str) -> int:
        [(count,)] = self.con.execute(query).fetchall()
        return count

    def proportions(self) -> dict:
        """Share of each split overall and within each stratum, for the report."""
        counts = self.con.execute(
            "SELECT source, quality_tier, split, count(*) FROM assignments GROUP BY ALL"
        ).fetchall()
        overall, by_stratum = Counter(), defaultdict(Counter)
        for source, tier, split, count in counts:
            overall[split] += count
            by_stratum[f"{source}|{tier}"][split] += count
        return {
            "overall": _shares(overall),
            "by_stratum": {stratum: _shares(by_stratum[stratum]) for stratum in sorted(by_stratum)},
        }

    def leakage(self) -> dict[str, int]:
        """Groups and identical contents found on more than one side; both must be 0."""
        groups, contents = (self._count(_ACROSS.format(key=key)) for key in ('"group"', "content_hash"))
        return {"groups_across_splits": groups, "identical_content_across_splits": contents}

    def near_duplicate_leakage(self, pairs: np.ndarray) -> int:
        """Near-duplicate pairs ((k, 2) input rows) whose two sides landed in different splits;
        must be 0."""
        self.con.register("pairs", pa.table({"a": pairs[:, 0], "b": pairs[:, 1]}))
        count = self._count(
            """
            SELECT count(*) FROM pairs JOIN assignments x ON x.input_row = pairs.a
            JOIN assignments y ON y.input_row = pairs.b WHERE x.split != y.split
            """
        )
        self.con.unregister("pairs")
        return count

    def counts(self) -> dict[str, int]:
        [(folds, groups)] = self.con.execute(
            'SELECT count(DISTINCT fold), count(DISTINCT "group") FROM assignments'
        ).fetchall()
        return {"cv_folds": folds, "groups": groups}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SplitPlan:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values()) or 1  # no conversations: every share is 0
    return {split: round(counts[split] / total, 4) for split in SPLITS}
