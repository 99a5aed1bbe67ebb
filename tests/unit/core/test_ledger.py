"""The ledger identity (rows in = rows out + dropped) and rejection rows."""

from __future__ import annotations

import json

import pytest

from pixelated.core.ledger import EXCERPT_CHARS, Ledger, LedgerError, Rejection


def test_ledger_write_checks_identity_and_writes_nothing_when_broken(tmp_path):
    ledger = Ledger("validate")
    ledger.count_in(5, source="a")
    ledger.count_out(3, source="a")
    ledger.count_drop("missing_text", source="a")
    path = tmp_path / "reports" / "validate.json"
    with pytest.raises(LedgerError, match="rows_in=5 but rows_out \\+ dropped = 4"):
        ledger.write(path)
    assert not path.exists()
    assert not path.parent.exists()

    ledger.count_drop("empty_turn", source="b")
    ledger.write(path)
    assert json.loads(path.read_text()) == {
        "stage": "validate",
        "rows_in": 5,
        "rows_out": 3,
        "rows_dropped": 2,
        "dropped": {"empty_turn": 1, "missing_text": 1},
        "by_source": {"a": {"dropped_missing_text": 1, "in": 5, "out": 3}, "b": {"dropped_empty_turn": 1}},
    }


def test_ledger_refuses_invented_rows(tmp_path):
    ledger = Ledger("ingest")
    ledger.count_in(1)
    ledger.count_out(2)
    with pytest.raises(LedgerError):
        ledger.write(tmp_path / "l.json")
    assert not (tmp_path / "l.json").exists()


def test_rejection_row_and_description():
    rejection = Rejection("invalid_json", "bad", "src", "src/a.jsonl", 7, None, "x" * 500)
    row = rejection.as_row("ingest")
    assert row["stage"] == "ingest" and row["source_line"] == 7
    assert len(row["excerpt"]) == EXCERPT_CHARS
    assert rejection.describe() == "src/a.jsonl:7: invalid_json: bad"
    assert (
        Rejection("empty_file", "nothing", source_file="src/b.csv").describe()
        == "src/b.csv: empty_file: nothing"
    )
