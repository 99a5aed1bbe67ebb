"""filter_table: the one batch loop accounts for every row, locally and over processes."""

from __future__ import annotations

import json
from functools import partial

import pyarrow.parquet as pq
import pytest

from pixelated.core.config import ExecutorConfig
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.ingest.conversation import make_turn
from tests.conftest import MAX_TURN_CHARS as MAX


@pytest.mark.parametrize("kind", ["local", "process"])
def test_filter_table_validate_accounts_for_every_row(canonical_row, tmp_path, kind):
    source = tmp_path / "ingested.parquet"
    rows = [canonical_row(i) for i in range(1, 8)]
    rows[2] = canonical_row(3, turns=[make_turn("seeker", None)])
    rows[5] = canonical_row(6, turns=[])
    with ValidatedWriter(source, CONVERSATION_SCHEMA, IngestedSchema) as writer:
        writer.write_records(rows)
    ledger = filter_table(
        "validate",
        partial(validate_batch, max_turn_chars=MAX),
        TablePaths(source, tmp_path / "out.parquet", tmp_path / "q.parquet", tmp_path / "ledger.json"),
        schema=CONVERSATION_SCHEMA,
        check=canonical_schema(MAX),
        executor=ExecutorConfig(kind=kind, workers=2, batch_size=3),
    )
    report = json.loads((tmp_path / "ledger.json").read_text())
    assert report["rows_in"] == 7 == report["rows_out"] + report["rows_dropped"]
    assert report["dropped"] == {"missing_text": 1, "no_turns": 1}
    assert ledger.rows_out == 5
    assert pq.read_table(tmp_path / "out.parquet").column("source_line").to_pylist() == [1, 2, 4, 5, 7]
    quarantine = pq.read_table(tmp_path / "q.parquet").to_pylist()
    assert [(q["source_line"], q["reason"]) for q in quarantine] == [(3, "missing_text"), (6, "no_turns")]
