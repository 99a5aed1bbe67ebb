"""Issue 17 item 10: every CSV the project writes neutralizes formula cells (OWASP: `=`, `+`,
`-`, `@`, tab, CR get a leading quote), and our own readers give the value back exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelated.core import csvsafe
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.export.writers import count_turn_csv, write_turn_csv
from pixelated.ingest.conversation import make_turn
from pixelated.reporting.tables import write_validated_csv
from tests.conftest import canonical_row, frame

FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "''-twice",
]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("=+-@\t\r' ax"), max_size=6))
def test_neutralize_round_trips_and_leaves_no_trigger_first(value):
    safe = csvsafe.neutralize(value)
    assert csvsafe.restore(safe) == value
    assert not safe.startswith(csvsafe.TRIGGERS)


def test_plain_values_are_untouched():
    for value in ("hello", "'tis fine", "", "3.5", "a=b"):
        assert csvsafe.neutralize(value) == value == csvsafe.restore(value)


def _cells(path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _formula_split(folder: Path) -> Path:
    """A split file of one conversation whose turns are the FORMULAS."""
    turns = [make_turn("seeker" if i % 2 == 0 else "helper", text) for i, text in enumerate(FORMULAS)]
    table = pa_arrow.Table.from_pandas(frame([canonical_row(1, turns)]), schema=CONVERSATION_SCHEMA)
    pq.write_table(table, folder / "split.parquet")
    return folder / "split.parquet"


def test_issue17_item10_turn_csv_export_neutralizes_formulas_and_round_trips(tmp_path):
    write_turn_csv({"train": _formula_split(tmp_path)}, tmp_path, None, {})
    assert not any(cell.startswith(csvsafe.TRIGGERS) for cell in _cells(tmp_path / "train.csv"))
    back = csvsafe.read_csv(tmp_path / "train.csv", keep_default_na=False)
    assert back["text"].tolist() == [t.strip() for t in FORMULAS]
    assert count_turn_csv(tmp_path, "train") == 1


def test_issue17_item10_report_and_review_csvs_are_neutralized(tmp_path):
    report = pd.DataFrame({"group": FORMULAS, "n": range(len(FORMULAS))})
    write_validated_csv(report, tmp_path / "fairness.csv", pa.DataFrameSchema({"group": pa.Column(str)}))
    assert not any(cell.startswith(csvsafe.TRIGGERS) for cell in _cells(tmp_path / "fairness.csv"))
    assert csvsafe.read_csv(tmp_path / "fairness.csv", keep_default_na=False)["group"].tolist() == FORMULAS

    review = pd.DataFrame(
        {
            "conversation_id": ["a" * 16],
            "source": ["=cmd"],
            "review_reason": ["@x"],
            "quality": [0.5],
            "quality_tier": ["minimum"],
            "safety": [0.9],
            "safety_reason": ["-"],
            "crisis_kinds": [""],
            "cssrs_level": [0],
            "auto_decision": ["keep"],
        }
    )
    from pixelated.selection.gates import VERDICT_COLUMNS, read_verdicts
    from pixelated.selection.review import write_review

    (tmp_path / "verdicts.csv").write_text(",".join(VERDICT_COLUMNS) + "\n")  # none given yet

    verdicts = read_verdicts(tmp_path / "verdicts.csv")
    whole = review.assign(turns=[[]], crisis_turns=[""])
    write_review(tmp_path / "review", review, [whole], verdicts, (), 0.1)
    cells = _cells(tmp_path / "review" / "review.csv")
    assert "=cmd" not in cells and "'=cmd" in cells


def test_ingest_reads_our_exported_turn_csv_back_exactly(read, tmp_path):
    write_turn_csv({"train": _formula_split(tmp_path)}, tmp_path, None, {})
    rows, rejections = read(
        "utterance_csv",
        tmp_path / "train.csv",
        {"conversation": "conversation_id", "role": "role", "text": "text"},
    )
    assert rejections == []
    assert [t["text"] for t in rows[0]["turns"]] == [t.strip() for t in FORMULAS]
