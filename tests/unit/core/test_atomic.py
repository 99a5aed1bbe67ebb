"""Issue 17, item 7: a killed or failed writer never leaves a half-written output."""

from __future__ import annotations

import json
import os
import signal

import pyarrow.parquet as pq
import pytest

from pixelated.core import atomic
from pixelated.core.ledger import Ledger
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import ValidatedWriter
from tests.conftest import canonical_row, frame

WRITE_THEN_DIE = """
import os, signal, sys
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import ValidatedWriter
from tests.conftest import canonical_row, frame
writer = ValidatedWriter("out.parquet", CONVERSATION_SCHEMA, IngestedSchema)
writer.write(frame([canonical_row(i) for i in range(1, 51)]))
print("written", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkilled_writer_leaves_no_output_and_its_temporary_is_swept(spawn, tmp_path):
    """Item 7: SIGKILL mid-write used to leave out.parquet half-written (no footer) under its
    real name; now only a temporary remains, and the next writer of that output removes it."""
    proc, ready = spawn(WRITE_THEN_DIE)
    assert ready == "written"
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "out.parquet").exists()
    assert [p.name for p in tmp_path.glob("out.parquet.tmp-*")] == [f"out.parquet.tmp-{proc.pid}"]
    with ValidatedWriter(tmp_path / "out.parquet", CONVERSATION_SCHEMA, IngestedSchema) as writer:
        writer.write(frame([canonical_row(1)]))
    assert sorted(p.name for p in tmp_path.glob("out.parquet*")) == ["out.parquet"]
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_rows == 1


def test_writer_failure_keeps_the_previous_output(tmp_path):
    """Item 7: an exception inside the `with` block deletes the temporary; the output written
    by the last successful run is untouched (it used to be truncated on open)."""
    target = tmp_path / "out.parquet"
    with ValidatedWriter(target, CONVERSATION_SCHEMA, IngestedSchema) as writer:
        writer.write(frame([canonical_row(1), canonical_row(2)]))
    before = target.read_bytes()
    with pytest.raises(RuntimeError), ValidatedWriter(target, CONVERSATION_SCHEMA, IngestedSchema) as writer:
        writer.write(frame([canonical_row(3)]))
        raise RuntimeError("stage failed")
    assert target.read_bytes() == before
    assert list(tmp_path.glob("*.tmp-*")) == []


def test_atomic_write_json_keeps_old_file_on_failure(tmp_path, monkeypatch):
    """Item 7: reports and ledgers are replaced whole; a failed write leaves the old one."""
    target = tmp_path / "ledger.json"
    Ledger("s").write(target)
    before = target.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic.write_json(target, {"rows_in": 99})
    assert target.read_text() == before
    assert json.loads(before)["rows_in"] == 0
    assert list(tmp_path.glob("*.tmp-*")) == []


def test_temporaries_of_live_writers_are_kept(tmp_path):
    """Sweeping stale temporaries never deletes one a live process is still writing."""
    target = tmp_path / "t.json"
    live = atomic.temp_name(target, pid=os.getppid())
    live.write_text("{}")
    dead = atomic.temp_name(target, pid=2**22 + 1)  # above the default pid_max: never alive
    dead.write_text("{}")
    atomic.write_text(target, "x")
    assert live.exists() and not dead.exists()
