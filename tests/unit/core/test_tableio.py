"""The quarantine writer: rejections as rows, and an empty file with the schema."""

from __future__ import annotations

import pandera.pandas as pa
import pyarrow.parquet as pq
import pytest

from pixelated.core.ledger import Rejection
from pixelated.core.tableio import QuarantineWriter


def test_quarantine_writer_writes_rows_and_an_empty_file_with_schema(tmp_path):
    with QuarantineWriter(tmp_path / "empty.parquet", "ingest"):
        pass
    empty = pq.read_table(tmp_path / "empty.parquet")
    assert empty.num_rows == 0 and "reason" in empty.schema.names

    with QuarantineWriter(tmp_path / "q.parquet", "validate") as quarantine:
        quarantine.add([Rejection("empty_turn", "turn 0: text is empty", "s", "s/f", 3, "0" * 16)])
    (row,) = pq.read_table(tmp_path / "q.parquet").to_pylist()
    assert (row["stage"], row["reason"], row["source_file"], row["source_line"]) == (
        "validate",
        "empty_turn",
        "s/f",
        3,
    )


def test_quarantine_writer_refuses_a_malformed_reason(tmp_path):
    writer = QuarantineWriter(tmp_path / "q.parquet", "validate")
    writer.add([Rejection("Not A Reason", "x")])
    with pytest.raises(pa.errors.SchemaErrors):
        writer.close()
