"""filter_table: the one batch loop accounts for every row, locally and over processes, into
sharded outputs, and a rerun after a crash redoes only the shards that were not finished."""

from __future__ import annotations

import json
from functools import partial

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pixelated.core import shards
from pixelated.core.config import Config, ExecutorConfig
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.ingest.conversation import make_turn
from tests.conftest import MAX_TURN_CHARS as MAX
from tests.conftest import table_bytes


class StageConfig(Config):
    executor: ExecutorConfig


def write_parts(folder, parts: list[list[dict]]) -> None:
    """A sharded table of the given parts."""
    for index, rows in enumerate(parts):
        with ValidatedWriter(shards.part_path(folder, index), CONVERSATION_SCHEMA, IngestedSchema) as writer:
            writer.write_records(rows)


def validate(paths: TablePaths, kind: str = "local", batch_filter=None):
    return filter_table(
        "validate",
        batch_filter or partial(validate_batch, max_turn_chars=MAX),
        paths,
        schema=CONVERSATION_SCHEMA,
        check=canonical_schema(MAX),
        config=StageConfig(executor=ExecutorConfig(kind=kind, workers=2, batch_size=3)),
    )


@pytest.mark.parametrize("kind", ["local", "process"])
def test_filter_table_validate_accounts_for_every_row(canonical_row, tmp_path, kind):
    source = tmp_path / "ingested.parquet"
    rows = [canonical_row(i) for i in range(1, 8)]
    rows[2] = canonical_row(3, turns=[make_turn("seeker", None)])
    rows[5] = canonical_row(6, turns=[])
    write_parts(source, [rows[:4], rows[4:]])
    ledger = validate(
        TablePaths(source, tmp_path / "out.parquet", tmp_path / "q.parquet", tmp_path / "ledger.json"), kind
    )
    report = json.loads((tmp_path / "ledger.json").read_text())
    assert report["rows_in"] == 7 == report["rows_out"] + report["rows_dropped"]
    assert report["dropped"] == {"missing_text": 1, "no_turns": 1}
    assert ledger.rows_out == 5
    # part k of the output and of the quarantine come from part k of the input
    outputs = [
        pq.read_table(part).column("source_line").to_pylist()
        for part in shards.parts(tmp_path / "out.parquet")
    ]
    assert outputs == [[1, 2, 4], [5, 7]]
    assert pq.read_table(tmp_path / "out.parquet").column("source_line").to_pylist() == [1, 2, 4, 5, 7]
    quarantine = pq.read_table(tmp_path / "q.parquet").to_pylist()
    assert [(q["source_line"], q["reason"]) for q in quarantine] == [(3, "missing_text"), (6, "no_turns")]


SEEN: list[int] = []  # the source lines each run's filter was given (local executor: this process)


def crashing_at(line: int | None, batch: pd.DataFrame):
    """validate, recording what it saw, and failing (as a killed stage would) at `line`."""
    SEEN.extend(batch["source_line"])
    if line in set(batch["source_line"]):
        raise RuntimeError("the stage died here")
    return validate_batch(batch, max_turn_chars=MAX)


def test_a_rerun_after_a_crash_redoes_only_the_unfinished_shards(canonical_row, tmp_path):
    """Issue 14, item 2: same outputs and ledger as a clean run, and the finished shards are
    neither read nor written again."""
    source = tmp_path / "in.parquet"
    rows = [canonical_row(i) for i in range(1, 10)]
    rows[7] = canonical_row(8, turns=[])  # a drop in the last shard, so its ledger matters
    write_parts(source, [rows[:3], rows[3:6], rows[6:]])
    clean = TablePaths(
        source,
        tmp_path / "clean" / "o.parquet",
        tmp_path / "clean" / "q.parquet",
        tmp_path / "clean" / "l.json",
    )
    validate(clean)
    paths = TablePaths(source, tmp_path / "o.parquet", tmp_path / "q.parquet", tmp_path / "l.json")
    with pytest.raises(RuntimeError, match="died"):
        validate(paths, batch_filter=partial(crashing_at, 8))
    assert not paths.ledger.exists() and len(shards.parts(paths.output)) == 2
    finished = {part: part.stat().st_mtime_ns for part in shards.parts(paths.output)}
    SEEN.clear()
    validate(paths, batch_filter=partial(crashing_at, None))
    assert SEEN == [7, 8, 9]  # the third shard alone
    assert {part: part.stat().st_mtime_ns for part in list(finished)} == finished
    for out in ("output", "quarantine"):
        assert table_bytes(getattr(paths, out)) == table_bytes(getattr(clean, out))
    assert paths.ledger.read_text() == clean.ledger.read_text()


def test_a_changed_input_redoes_every_shard(canonical_row, tmp_path):
    """A marker counts only for the run it was written by: here, other input."""
    source = tmp_path / "in.parquet"
    rows = [canonical_row(i) for i in range(1, 7)]
    write_parts(source, [rows[:3], rows[3:]])
    paths = TablePaths(source, tmp_path / "o.parquet", tmp_path / "q.parquet", tmp_path / "l.json")
    validate(paths)
    write_parts(source, [rows[:3], [canonical_row(9)]])
    SEEN.clear()
    validate(paths, batch_filter=partial(crashing_at, None))
    assert SEEN == [1, 2, 3, 9]
    assert pq.read_table(paths.output).column("source_line").to_pylist() == [1, 2, 3, 9]


def test_the_code_key_covers_the_package_s_data_files_not_its_bytecode(tmp_path):
    """A changed lexicon (YAML in the package) must redo the shards it scored; a fresh
    __pycache__ must not."""
    package = tmp_path / "pkg"
    (package / "lexicons").mkdir(parents=True)
    (package / "rules.py").write_text("RULES = 1\n")
    (package / "lexicons" / "quality.yaml").write_text("judgement: [a]\n")
    before = shards.code_key.__wrapped__(package)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"\0")
    assert shards.code_key.__wrapped__(package) == before
    (package / "lexicons" / "quality.yaml").write_text("judgement: [a, b]\n")
    assert shards.code_key.__wrapped__(package) != before
