"""Schemas, validate_batch, length_filter, the ledger identity and the batch executor."""

from __future__ import annotations

import importlib.util
import json
from functools import partial

import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq
import pytest

from pixelated.core.config import ExecutorConfig
from pixelated.core.executor import map_batches
from pixelated.core.ledger import EXCERPT_CHARS, Ledger, LedgerError, Rejection
from pixelated.core.rules import turn_rules
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema, conversation_schema
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter, read_batches
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.ingest.conversation import make_turn
from pixelated.selection.filter_length import length_filter

MAX = 20000


def with_turns(n: int) -> list[dict]:
    return [make_turn("seeker" if i % 2 == 0 else "helper", f"turn {i}") for i in range(n)]


def reasons(rejections: list[Rejection]) -> list[str]:
    return [r.reason for r in rejections]


def failed_checks(schema: pa.DataFrameSchema, df: pd.DataFrame) -> set[str]:
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(df, lazy=True)
    return set(caught.value.failure_cases["check"].astype(str))


# --- schemas --------------------------------------------------------------------------------


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


# --- validate_batch -------------------------------------------------------------------------


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


# --- length_filter --------------------------------------------------------------------------


def test_length_filter_bounds_are_inclusive(canonical_row, frame):
    counts = [0, 1, 2, 3, 49, 50, 51, 120]
    df = frame([canonical_row(i + 1, turns=with_turns(n)) for i, n in enumerate(counts)])
    kept, rejections = length_filter(df, min_turns=2, max_turns=50)
    assert kept["n_turns"].tolist() == [2, 3, 49, 50]
    assert kept.index.tolist() == [0, 1, 2, 3]
    assert [(r.reason, r.source_line) for r in rejections] == [
        ("too_few_turns", 1),
        ("too_few_turns", 2),
        ("too_many_turns", 7),
        ("too_many_turns", 8),
    ]
    assert rejections[1].detail == "1 turns, minimum 2"
    assert rejections[2].detail == "51 turns, maximum 50"
    assert len(kept) + len(rejections) == len(df)


def test_length_filter_uses_the_given_bounds(canonical_row, frame):
    df = frame([canonical_row(i, turns=with_turns(i)) for i in range(1, 6)])
    kept, rejections = length_filter(df, min_turns=3, max_turns=3)
    assert kept["n_turns"].tolist() == [3]
    assert reasons(rejections) == ["too_few_turns", "too_few_turns", "too_many_turns", "too_many_turns"]


# --- ledger ---------------------------------------------------------------------------------


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


# --- stage loop and executor ----------------------------------------------------------------


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


def test_map_batches_local_and_process_agree_in_order(canonical_row, frame):
    batches = [
        frame([canonical_row(10 * b + i, turns=with_turns(b + i)) for i in range(3)]) for b in range(7)
    ]
    fn = partial(length_filter, min_turns=2, max_turns=5)
    local = list(map_batches(fn, batches, kind="local"))
    process = list(map_batches(fn, batches, kind="process", workers=2))
    assert len(local) == len(process) == 7
    for (kept_l, rej_l), (kept_p, rej_p) in zip(local, process, strict=True):
        pd.testing.assert_frame_equal(kept_l, kept_p)
        assert rej_l == rej_p
    kept_lines = [line for kept, _ in process for line in kept["source_line"].tolist()]
    assert kept_lines == sorted(kept_lines)  # batch order preserved
    assert sum(len(k) + len(r) for k, r in process) == 21


def test_map_batches_order_with_uneven_work():
    batches = [[i] * (1000 * (10 - i)) for i in range(10)]  # early batches are the slowest
    assert list(map_batches(sum, batches, kind="process", workers=3)) == list(map(sum, batches))
    assert list(map_batches(sum, batches, kind="local")) == list(map(sum, batches))


def test_map_batches_unknown_kind_raises_before_reading():
    def batches():
        raise AssertionError("a batch was read")
        yield

    with pytest.raises(ValueError, match=r"executor\.kind='dask'"):
        map_batches(sum, batches(), kind="dask")


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_map_batches_ray_without_ray_says_how_to_install():
    with pytest.raises(RuntimeError, match="pip install ray"):
        list(map_batches(sum, [[1]], kind="ray"))


def test_turn_rules_order_is_the_reporting_order():
    assert list(turn_rules(MAX)) == [
        "no_turns",
        "unknown_role",
        "missing_text",
        "empty_turn",
        "text_too_long",
    ]
