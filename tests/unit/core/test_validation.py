"""validate_batch: each bad row quarantined once, with the first failing rule as its reason."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from pixelated.core.rules import turn_rules
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import ValidatedWriter, read_batches
from pixelated.core.validation import validate_batch
from pixelated.ingest.conversation import make_turn
from tests.conftest import MAX_TURN_CHARS as MAX
from tests.conftest import reasons


def test_validate_batch_passes_a_clean_batch_unchanged(canonical_row, frame):
    df = frame([canonical_row(i) for i in range(1, 4)])
    kept, rejections = validate_batch(df, MAX)
    assert rejections == []
    pd.testing.assert_frame_equal(kept, df)


def test_validate_batch_quarantines_each_bad_row_once_in_rule_order(canonical_row, frame):
    rows = [
        canonical_row(1),
        canonical_row(2, turns=[]),
        canonical_row(3, turns=[make_turn("seeker", None), make_turn("Coach", "x")]),  # two rules fail
        canonical_row(4, turns=[make_turn("seeker", "ok"), make_turn("helper", None)]),
        canonical_row(5, turns=[make_turn("seeker", "ok"), make_turn("helper", "")]),
        canonical_row(6, turns=[make_turn("seeker", "x" * (MAX + 1))]),
        canonical_row(7, turns=[make_turn("seeker", "x" * MAX)]),  # exactly at the limit: kept
        canonical_row(8, conversation_id="ZZZZZZZZZZZZZZZZ"),
        canonical_row(9, n_turns=7),
        canonical_row(10, turns=[make_turn("Coach", "x")], n_turns=5),  # content reason wins
        canonical_row(11),
    ]
    kept, rejections = validate_batch(frame(rows), MAX)
    assert kept["source_line"].tolist() == [1, 7, 11]
    assert kept.index.tolist() == [0, 1, 2]
    assert [(r.source_line, r.reason) for r in rejections] == [
        (2, "no_turns"),
        (3, "unknown_role"),
        (4, "missing_text"),
        (5, "empty_turn"),
        (6, "text_too_long"),
        (8, "invalid_conversation_id"),
        (9, "n_turns_matches_turns"),
        (10, "unknown_role"),
    ]
    by_line = {r.source_line: r for r in rejections}
    assert by_line[3].detail == "turn 1: unknown role 'Coach', expected one of ('seeker', 'helper', 'system')"
    assert by_line[4].detail == "turn 1: text is missing"
    assert by_line[6].detail == f"turn 0: {MAX + 1} characters, limit {MAX}"
    assert "ZZZZZZZZZZZZZZZZ" in by_line[8].detail
    assert by_line[8].conversation_id == "ZZZZZZZZZZZZZZZZ"
    assert all(r.source == "fixture" and r.source_file == "fixture/file.jsonl" for r in rejections)
    assert all(r.excerpt is None for r in rejections)  # quarantine stays free of text
    # every reason is a valid quarantine reason
    assert all(r.reason == r.reason.lower() and " " not in r.reason for r in rejections)


def test_validate_batch_reports_turn_structure_as_invalid_turns(canonical_row, frame):
    df = frame([canonical_row(1), canonical_row(2)])
    df.at[1, "turns"] = [{**make_turn("seeker", "hi"), "mood": "sad"}, make_turn("helper", "hello")]
    kept, rejections = validate_batch(df, MAX)
    assert kept["source_line"].tolist() == [1]
    assert reasons(rejections) == ["invalid_turns"]
    assert "turns_are_records" in rejections[0].detail


def test_validate_batch_respects_max_turn_chars(canonical_row, frame):
    df = frame([canonical_row(1, turns=[make_turn("seeker", "x" * 11)])])
    assert reasons(validate_batch(df, 10)[1]) == ["text_too_long"]
    assert validate_batch(df, 11)[1] == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda df: df.drop(columns=["content_hash"]),
        lambda df: df.assign(unexpected=1),
        lambda df: df.assign(n_turns=df["n_turns"].astype("float64")),
    ],
    ids=["missing_column", "extra_column", "wrong_dtype"],
)
def test_validate_batch_raises_for_a_frame_that_is_not_ingest_output(canonical_row, frame, damage):
    df = damage(frame([canonical_row(1), canonical_row(2, turns=[])]))
    with pytest.raises(pa.errors.SchemaErrors):
        validate_batch(df, MAX)


def test_validate_batch_on_parquet_batches(canonical_row, tmp_path):
    """Rows read back from Parquet hold turns as numpy arrays; the rules must still apply."""
    path = tmp_path / "in.parquet"
    with ValidatedWriter(path, CONVERSATION_SCHEMA, IngestedSchema) as writer:
        writer.write_records([canonical_row(1), canonical_row(2, turns=[make_turn("robot", "beep")])])
    (batch,) = read_batches(path, batch_size=10)
    kept, rejections = validate_batch(batch, MAX)
    assert kept["source_line"].tolist() == [1]
    assert reasons(rejections) == ["unknown_role"]


def test_turn_rules_order_is_the_reporting_order():
    assert list(turn_rules(MAX)) == [
        "no_turns",
        "unknown_role",
        "missing_text",
        "empty_turn",
        "text_too_long",
    ]
