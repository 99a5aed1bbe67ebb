"""The pandera schemas: structure of an ingested row, and content rules as named checks."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from pixelated.core.schema import IngestedSchema, conversation_schema
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_turn
from tests.conftest import MAX_TURN_CHARS as MAX


def failed_checks(schema: pa.DataFrameSchema, df: pd.DataFrame) -> set[str]:
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(df, lazy=True)
    return set(caught.value.failure_cases["check"].astype(str))


def test_ingested_schema_accepts_canonical_rows_and_content_problems(canonical_row, frame):
    rows = [canonical_row(1), canonical_row(2, turns=[make_turn("Narrator", None)])]
    validated = IngestedSchema.validate(frame(rows), lazy=True)
    assert len(validated) == 2
    # the canonical schema, with content rules, refuses the second row
    assert failed_checks(canonical_schema(MAX), frame(rows)) == {"unknown_role", "missing_text"}


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ({"conversation_id": "NOT-A-HEX-ID"}, "str_matches('^[0-9a-f]{16}$')"),
        ({"conversation_id": "abc123"}, "str_matches('^[0-9a-f]{16}$')"),
        ({"content_hash": "0" * 15}, "str_matches('^[0-9a-f]{16}$')"),
        ({"source_sha256": "xyz"}, "str_matches('^[0-9a-f]{64}$')"),
        ({"source_line": 0}, "greater_than_or_equal_to(1)"),
        ({"n_turns": 3}, "n_turns_matches_turns"),
        ({"license": ""}, "str_length(1, None)"),
    ],
)
def test_ingested_schema_rejects_bad_structure(canonical_row, frame, override, check):
    df = frame([canonical_row(1, **override)])
    assert check in failed_checks(IngestedSchema, df)


@pytest.mark.parametrize(
    "turn",
    [
        {**make_turn("seeker", "hi"), "emotion": "sad"},  # extra key
        {"role": "seeker", "text": "hi"},  # missing keys
        "hi",  # not a mapping
    ],
)
def test_schemas_reject_turns_that_are_not_canonical_records(canonical_row, frame, turn):
    df = frame([canonical_row(1)])
    df.at[0, "turns"] = [turn, make_turn("helper", "hello")]
    assert "turns_are_records" in failed_checks(IngestedSchema, df)
    assert "turns_are_records" in failed_checks(canonical_schema(MAX), df)


def test_schema_rejects_duplicate_ids_extra_and_missing_columns(canonical_row, frame):
    row = canonical_row(1)
    assert "field_uniqueness" in failed_checks(IngestedSchema, frame([row, {**row, "source_line": 2}]))
    df = frame([row])
    assert "column_in_schema" in failed_checks(IngestedSchema, df.assign(score=1))
    assert "column_in_dataframe" in failed_checks(IngestedSchema, df.drop(columns=["extra"]))


def test_conversation_schema_turns_each_rule_into_a_named_check(canonical_row, frame):
    def no_shouting(turns):
        return next((f"turn {i} shouts" for i, t in enumerate(turns) if t["text"].isupper()), None)

    schema = conversation_schema({"no_shouting": no_shouting})
    assert len(schema.validate(frame([canonical_row(1)]))) == 1
    loud = canonical_row(2, turns=[make_turn("seeker", "HELP ME"), make_turn("helper", "I hear you.")])
    assert failed_checks(schema, frame([loud])) == {"no_shouting"}
