"""The quarantine writer: rejections as rows, and an empty file with the schema; a row cursor
that reads a second table in step with a first."""

from __future__ import annotations

import pandera.pandas as pa
import pyarrow
import pyarrow.parquet as pq
import pytest

from pixelated.core.ledger import Rejection
from pixelated.core.tableio import QuarantineWriter, RowCursor


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


def test_row_cursor_takes_rows_in_step_across_row_groups(tmp_path):
    """A second table read in step with a first: any start row, any take sizes, each row once."""
    path = tmp_path / "table.parquet"
    table = pyarrow.table({"n": list(range(23)), "s": [str(i) for i in range(23)]})
    pq.write_table(table, path, row_group_size=5)
    for first in (0, 4, 5, 11, 23):
        cursor = RowCursor(path, first, ["n"])
        taken = [cursor.take(size)["n"].tolist() for size in (3, 7, 0, 100)]
        assert [n for part in taken for n in part] == list(range(first, 23))
        assert [len(t) for t in taken[:2]] == [min(3, 23 - first), min(7, max(0, 20 - first))]
