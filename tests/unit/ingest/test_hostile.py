"""Issue 17 item 12: hostile input, property-based, over every registered reader.

Each reader gets random bytes, its valid file in random encodings, that file truncated at
every byte, random unicode (control characters, NUL, quotes, brackets, line separators) in
every text field and huge or malformed numbers in every typed field. The invariants:
no exception escapes a reader; every item is a row or a rejection with its file (and line,
but for whole-file reasons); `records_seen` equals rows plus rejections; every row and
rejection can be stored; and in a well-formed file every record is exactly one item, its
text neither truncated nor merged with another record's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa_arrow
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelated.core import csvsafe
from pixelated.core.ledger import Rejection
from pixelated.core.schema import QUARANTINE_SCHEMA
from pixelated.core.tableio import from_records
from pixelated.ingest.ingest import to_batch
from pixelated.ingest.readers import READERS, FileContext, get_reader
from tests.conftest import READ_OPTIONS, source_config

FILE_LEVEL = {"empty_file", "unreadable_file", "reader_error"}  # reasons without a line
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEXT = st.text(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from("\x00\r\n\t\"',{}[]\\=+-@\u2028\x85\ufeff")),
    max_size=24,
)
NUMBER = st.one_of(
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e30", "99999999999999999999", "-0", " 7 ", "3.7", "NaN", "9" * 5000, "", "x"]),
)


def _record(i: int, seeker: str = "I feel low.", helper: str = "I hear you.", feedback=4, upvotes=3) -> dict:
    return {"id": f"r{i}", "seeker": seeker, "helper": helper, "feedback": feedback, "upvotes": upvotes}


VALID = [_record(0), _record(1, 'Second one, with "quotes"', "Yes\nand a new line"), _record(2)]


def _nested(record: dict, turns_key: str = "turns", text_key: str = "text") -> dict:
    turns = [
        {"role": "user", text_key: record["seeker"], "feedback": record["feedback"]},
        {"role": "assistant", text_key: record["helper"]},
    ]
    return {"id": record["id"], turns_key: turns, "upvotes": record["upvotes"]}


def _as_text(value):
    return None if value is None else str(value)


def _columnar(record: dict) -> dict:
    """Parquet and Arrow need one type per column: numbers travel as text there."""
    nested = _nested(record)
    for turn in nested["turns"]:
        turn["feedback"] = _as_text(turn.get("feedback"))
    return {**nested, "upvotes": _as_text(nested["upvotes"])}


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[csvsafe.neutralize("" if v is None else str(v)) for v in row] for row in rows])
    return out.getvalue().encode("utf-8")


def write_jsonl(records, path: Path) -> None:
    path.write_bytes(b"".join(json.dumps(_nested(r), ensure_ascii=False).encode() + b"\n" for r in records))


def write_openai(records, path: Path) -> None:
    lines = [json.dumps(_nested(r, "messages", "content"), ensure_ascii=False) + "\n" for r in records]
    path.write_text("".join(lines), encoding="utf-8")


def write_json(records, path: Path) -> None:
    path.write_text(json.dumps([_nested(r) for r in records], ensure_ascii=False, indent=1), encoding="utf-8")


def write_parquet(records, path: Path) -> None:
    pq.write_table(pa_arrow.Table.from_pylist([_columnar(r) for r in records]), path)


def write_hf(records, path: Path) -> None:
    import datasets

    datasets.Dataset.from_list([_columnar(r) for r in records]).save_to_disk(str(path))


def write_utterance(records, path: Path) -> None:
    rows = []
    for r in records:
        rows += [
            [r["id"], "user", r["seeker"], r["feedback"], r["upvotes"]],
            [r["id"], "assistant", r["helper"], "", ""],
        ]
    path.write_bytes(_csv(["dialog", "role", "text", "feedback", "upvotes"], rows))


def write_qa(records, path: Path) -> None:
    rows = [[r["id"], r["seeker"], r["helper"], r["upvotes"]] for r in records]
    path.write_bytes(_csv(["id", "question", "answer", "upvotes"], rows))


NESTED = {
    "mapping": {"id": "id", "metadata": {"upvotes": "upvotes"}, "turn_fields": {"feedback": "feedback"}}
}


@dataclass(frozen=True)
class Format:
    write: Callable[[list[dict], Path], None]
    keys: dict
    text: bool = True  # a text format: encodings and truncation apply to its bytes


FORMATS = {
    "jsonl": Format(write_jsonl, NESTED),
    "openai_chat": Format(write_openai, NESTED),
    "json": Format(write_json, NESTED),
    "parquet": Format(write_parquet, NESTED, text=False),
    "hf_dataset": Format(write_hf, NESTED, text=False),
    "utterance_csv": Format(
        write_utterance,
        {
            "conversation": "dialog",
            "role": "role",
            "text": "text",
            "turn_fields": {"feedback": "feedback"},
            "metadata": {"upvotes": "upvotes"},
        },
    ),
    "qa_csv": Format(
        write_qa,
        {
            "id": "id",
            "seeker_text": ["question"],
            "helper_text": "answer",
            "metadata": {"upvotes": "upvotes"},
        },
    ),
}
TEXT_FORMATS = sorted(name for name, fmt in FORMATS.items() if fmt.text)


def test_every_registered_reader_is_probed():
    assert set(FORMATS) == set(READERS)


def read_checked(fmt: str, path: Path) -> list:
    """The reader's items, with every invariant that holds for any input checked."""
    source = source_config(format=fmt, **FORMATS[fmt].keys)
    ctx = FileContext.for_file("hostile", source, f"hostile/{path.name}", "0" * 64)
    items = list(get_reader(fmt)(path, source, READ_OPTIONS, ctx))  # nothing may escape
    assert all(isinstance(item, dict | Rejection) for item in items)
    assert ctx.records_seen == len(items), "a record was lost or counted twice"
    batch = to_batch(items)  # rows Arrow cannot store become rejections, never an exception
    assert len(batch.kept) + len(batch.rejections) == len(items)
    for rejection in batch.rejections:
        assert rejection.source_file and rejection.reason and rejection.detail
        assert rejection.source_line is not None or rejection.reason in FILE_LEVEL, rejection
    from_records([r.as_row("ingest") for r in batch.rejections], QUARANTINE_SCHEMA)
    return items


def assert_faithful(items: list, records: list[dict]) -> None:
    """A well-formed file: one item per record, and each row's text is its own record's."""
    assert len(items) == len(records)
    expected = {r["id"]: [r["seeker"].strip(), r["helper"].strip()] for r in records}
    for row in (item for item in items if isinstance(item, dict)):
        assert [turn["text"] for turn in row["turns"]] == expected[row["source_record_id"]]


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("valid")
    files = {}
    for name, fmt in FORMATS.items():
        files[name] = folder / name
        fmt.write(VALID, files[name])
    return files


def test_valid_files_read_completely(valid_files):
    for name, path in valid_files.items():
        items = read_checked(name, path)
        assert all(isinstance(item, dict) for item in items), name
        assert_faithful(items, VALID)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(fmt, data, tmp_path):
    path = tmp_path / "random"
    if FORMATS[fmt].text or fmt == "parquet":
        path.write_bytes(data)
    else:  # a dataset folder whose Arrow file is garbage
        write_hf(VALID, path)
        next(path.glob("*.arrow")).write_bytes(data)
    read_checked(fmt, path)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@SETTINGS
@given(encoding=st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig", "shift_jis", "cp500"]))
def test_random_encodings(fmt, encoding, valid_files, tmp_path):
    path = tmp_path / "encoded"
    text = valid_files[fmt].read_text(encoding="utf-8")
    path.write_bytes(text.encode(encoding, errors="replace"))
    read_checked(fmt, path)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_truncation_at_every_byte(fmt, valid_files, tmp_path):
    source = valid_files[fmt]
    target = next(source.glob("*.arrow")) if source.is_dir() else source
    data = target.read_bytes()
    step = max(1, len(data) // (300 if fmt == "parquet" else 60))  # binary: sampled cuts; text: every byte
    for cut in range(0, len(data) + 1, 1 if FORMATS[fmt].text else step):
        if source.is_dir():
            path = tmp_path / f"cut{cut}"
            write_hf(VALID, path)
            next(path.glob("*.arrow")).write_bytes(data[:cut])
        else:
            path = tmp_path / "cut"
            path.write_bytes(data[:cut])
        items = read_checked(fmt, path)
        assert len([i for i in items if isinstance(i, dict)]) <= len(VALID)
        if cut == len(data):
            assert_faithful(items, VALID)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(texts=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4))
def test_random_unicode_in_every_text_field(fmt, texts, tmp_path):
    records = [_record(i, seeker, helper) for i, (seeker, helper) in enumerate(texts)]
    path = tmp_path / f"unicode-{fmt}"
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    FORMATS[fmt].write(records, path)
    assert_faithful(read_checked(fmt, path), records)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(numbers=st.lists(st.tuples(NUMBER, NUMBER), min_size=1, max_size=4))
def test_huge_numbers_in_every_typed_field(fmt, numbers, tmp_path):
    records = [_record(i, feedback=fb, upvotes=up) for i, (fb, up) in enumerate(numbers)]
    path = tmp_path / f"numbers-{fmt}"
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    FORMATS[fmt].write(records, path)
    items = read_checked(fmt, path)
    assert_faithful(items, records)
    for row in (item for item in items if isinstance(item, dict)):
        assert row["upvotes"] is None or -(2**63) <= row["upvotes"] < 2**63
        assert all(t["feedback"] is None or -(2**31) <= t["feedback"] < 2**31 for t in row["turns"])
