"""Malformed input: every bad file, line or record becomes a Rejection naming file, line and
reason (or a validate quarantine row), never an exception, and the ingest ledger adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pixelated.core.ledger import Rejection
from pixelated.core.runner import TablePaths
from pixelated.core.validation import validate_batch
from pixelated.ingest import ingest
from pixelated.ingest.ingest import read_source
from tests.conftest import INGEST, MAX_TURN_CHARS, READ_OPTIONS, reasons, source_config, table_bytes

TEN_MB = 10 * 1024 * 1024
QA_CFG = {
    "id": "id",
    "seeker_text": ["question"],
    "helper_text": "answer",
    "metadata": {"upvotes": "upvotes"},
}
UTT_CFG = {"conversation": "dialog", "role": "role", "text": "text"}


def jsonl_line(turns, **fields) -> str:
    return json.dumps({"turns": turns, **fields}) + "\n"


GOOD = [{"role": "user", "text": "I feel stuck."}, {"role": "assistant", "text": "Stuck how?"}]


def assert_located(rejection: Rejection, file_name: str, line: int | None) -> None:
    assert rejection.source == "fixture"
    assert rejection.source_file == f"fixture/{file_name}"
    assert rejection.source_line == line
    assert rejection.detail


# --- JSONL ----------------------------------------------------------------------------------


def test_jsonl_broken_line_rejected_neighbours_read(read, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(
        jsonl_line(GOOD, id="a") + '{"turns": [{"role": "user", "text": "oops"\n' + jsonl_line(GOOD, id="c")
    )
    rows, rejections = read("jsonl", path, {"mapping": {"id": "id"}})
    assert [r["source_record_id"] for r in rows] == ["a", "c"]
    assert [r["source_line"] for r in rows] == [1, 3]
    assert reasons(rejections) == ["invalid_json"]
    assert_located(rejections[0], "broken.jsonl", 2)
    assert "oops" in rejections[0].excerpt
    assert "column" in rejections[0].detail


def test_jsonl_blank_lines_are_skipped_but_counted(read, tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n" + jsonl_line(GOOD) + "   \n\n" + "{bad\n")
    rows, rejections = read("jsonl", path)
    assert [r["source_line"] for r in rows] == [2]
    assert [(r.reason, r.source_line) for r in rejections] == [("invalid_json", 5)]


def test_jsonl_non_utf8_line(read, tmp_path):
    path = tmp_path / "latin1.jsonl"
    bad = b'{"turns": [{"role": "user", "text": "caf\xe9"}]}\n'  # Latin-1, not UTF-8
    path.write_bytes(jsonl_line(GOOD).encode() + bad + jsonl_line(GOOD).encode())
    rows, rejections = read("jsonl", path)
    assert [r["source_line"] for r in rows] == [1, 3]
    assert reasons(rejections) == ["invalid_utf8"]
    assert_located(rejections[0], "latin1.jsonl", 2)
    assert "\\xe9" in rejections[0].excerpt and "\\xe9" not in rejections[0].detail  # logs carry no values


def test_jsonl_structurally_wrong_records(read, tmp_path):
    path = tmp_path / "shapes.jsonl"
    path.write_text(
        "[1, 2]\n"
        + json.dumps({"dialog": []})
        + "\n"
        + jsonl_line(["just a string"])
        + jsonl_line([{"role": "user", "text": "hi", "feedback": "great"}])
        + jsonl_line(GOOD, upvotes="many")
    )
    cfg = {"mapping": {"turn_fields": {"feedback": "feedback"}, "metadata": {"upvotes": "upvotes"}}}
    rows, rejections = read("jsonl", path, cfg)
    assert rows == []
    assert [(r.reason, r.source_line) for r in rejections] == [
        ("not_an_object", 1),
        ("missing_turns", 2),
        ("malformed_turn", 3),
        ("bad_turn_annotation", 4),
        ("bad_metadata", 5),
    ]
    assert rejections[4].detail == "metadata upvotes is not a number (int64)"  # logged: no value
    assert rejections[4].excerpt == "upvotes='many'"  # quarantine only


def test_jsonl_missing_text_kept_then_rejected_by_validate(read, frame, tmp_path):
    path = tmp_path / "notext.jsonl"
    path.write_text(jsonl_line([{"role": "user"}, {"role": "assistant", "text": "Hello?"}]))
    rows, rejections = read("jsonl", path)
    assert rejections == []
    assert rows[0]["turns"][0]["text"] is None
    kept, dropped = validate_batch(frame(rows), MAX_TURN_CHARS)
    assert kept.empty
    assert reasons(dropped) == ["missing_text"]
    assert dropped[0].detail == "turn 0: text is missing"
    assert dropped[0].source_file == "fixture/notext.jsonl" and dropped[0].source_line == 1


def test_unknown_role_rejected_by_validate_naming_role(read, frame, tmp_path):
    path = tmp_path / "roles.jsonl"
    path.write_text(
        jsonl_line([{"role": "user", "text": "hi"}, {"role": "Narrator", "text": "Meanwhile..."}])
    )
    rows, rejections = read("jsonl", path)
    assert rejections == []
    assert rows[0]["turns"][1]["role"] == "Narrator"
    _, dropped = validate_batch(frame(rows), MAX_TURN_CHARS)
    assert reasons(dropped) == ["unknown_role"]
    assert "turn 1" in dropped[0].detail and "'Narrator'" in dropped[0].detail


def test_empty_turns_rejected_by_validate(read, frame, tmp_path):
    path = tmp_path / "empty_turns.jsonl"
    path.write_text(
        jsonl_line([{"role": "user", "text": "hi"}, {"role": "assistant", "text": " \n\t "}])
        + jsonl_line([])
        + jsonl_line(GOOD)
    )
    rows, rejections = read("jsonl", path)
    assert rejections == []
    assert rows[0]["turns"][1]["text"] == ""
    kept, dropped = validate_batch(frame(rows), MAX_TURN_CHARS)
    assert [(r.reason, r.source_line) for r in dropped] == [("empty_turn", 1), ("no_turns", 2)]
    assert dropped[0].detail == "turn 1: text is empty"
    assert kept["source_line"].tolist() == [3]


def test_ten_mb_message_reads_then_fails_length_rule(read, frame, tmp_path):
    path = tmp_path / "huge.jsonl"
    message = "word " * (TEN_MB // 5)
    path.write_text(jsonl_line([{"role": "user", "text": message}, {"role": "assistant", "text": "ok"}]))
    rows, rejections = read("jsonl", path)
    assert rejections == []
    assert len(rows[0]["turns"][0]["text"]) == len(message.strip())
    _, dropped = validate_batch(frame(rows), MAX_TURN_CHARS)
    assert reasons(dropped) == ["text_too_long"]
    assert dropped[0].detail == f"turn 0: {len(message.strip())} characters, limit {MAX_TURN_CHARS}"


@pytest.mark.parametrize(
    ("fmt", "content"), [("jsonl", b""), ("jsonl", b"\n  \n"), ("json", b""), ("json", b"  \n")]
)
def test_empty_json_files(read, tmp_path, fmt, content):
    path = tmp_path / f"empty.{fmt}"
    path.write_bytes(content)
    rows, rejections = read(fmt, path)
    assert rows == []
    assert reasons(rejections) == ["empty_file"]
    assert_located(rejections[0], path.name, None)


def test_json_empty_array_and_non_array(read, tmp_path):
    for name, text in [("none.json", "[]"), ("object.json", '{"turns": []}')]:
        path = tmp_path / name
        path.write_text(text)
        rows, rejections = read("json", path)
        assert rows == []
        assert reasons(rejections) == ["empty_file"], name


def test_json_truncated_array(read, tmp_path):
    path = tmp_path / "truncated.json"
    text = json.dumps([{"turns": GOOD}, {"turns": GOOD}, {"turns": GOOD}])
    path.write_text(text[: len(text) - 30])
    rows, rejections = read("json", path)
    assert [r["source_line"] for r in rows] == [1, 2]
    assert reasons(rejections) == ["invalid_json"]
    assert_located(rejections[0], "truncated.json", 3)
    assert "does not decode" in rejections[0].detail


def test_json_truncated_before_first_record_is_one_rejection(read, tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"turns": [{"role": "user", "te')
    rows, rejections = read("json", path)
    assert rows == []
    assert [(r.reason, r.source_line) for r in rejections] == [("invalid_json", 1)]


def test_json_non_utf8_is_a_rejection(read, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"turns": [{"role": "user", "text": "caf\xe9"}]}]')
    rows, rejections = read("json", path)
    assert rows == []
    assert reasons(rejections) == ["invalid_utf8"]


# --- CSV ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "cfg"), [("qa_csv", QA_CFG), ("utterance_csv", UTT_CFG)])
@pytest.mark.parametrize("content", [b"", b"\r\n \n"])
def test_empty_csv(read, tmp_path, fmt, cfg, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    rows, rejections = read(fmt, path, cfg)
    assert rows == []
    assert reasons(rejections) == ["empty_file"]
    assert_located(rejections[0], "empty.csv", None)


def test_csv_shifted_columns(read, tmp_path):
    path = tmp_path / "shifted.csv"
    path.write_text(
        "id,question,answer,upvotes\n"
        "1,How?,Like this.,2\n"
        "2,Why,not?,Because.,3\n"  # unquoted comma shifts every later column
        "3,When?,Soon.\n"  # a column short
        "4,Where?,Here.,0\n"
    )
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert [r["source_record_id"] for r in rows] == ["1", "4"]
    assert [(r.reason, r.source_line) for r in rejections] == [("csv_field_count", 3), ("csv_field_count", 4)]
    assert "expected 4 fields" in rejections[0].detail and "got 5" in rejections[0].detail
    assert "got 3" in rejections[1].detail
    assert rejections[0].excerpt == "2,Why,not?,Because.,3"
    assert_located(rejections[1], "shifted.csv", 4)


def test_csv_line_numbers_count_multiline_fields(read, tmp_path):
    path = tmp_path / "multiline.csv"
    path.write_text('id,question,answer,upvotes\n1,"Line one\nline two\nline three",Ok.,1\n2,Short?,Yes,x,\n')
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert [r["source_line"] for r in rows] == [2]
    assert [(r.reason, r.source_line) for r in rejections] == [("csv_field_count", 5)]


def test_csv_non_utf8_row(read, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"id,question,answer,upvotes\n1,Ok?,Yes.,1\n2,Caf\xe9?,Oui.,1\n3,Fine?,Yes.,1\n")
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert [r["source_record_id"] for r in rows] == ["1", "3"]
    assert reasons(rejections) == ["invalid_utf8"]
    assert_located(rejections[0], "latin1.csv", 3)


def test_utterance_csv_bad_row_rejects_its_conversation(read, tmp_path):
    path = tmp_path / "dialogs.csv"
    path.write_bytes(
        b"dialog,role,text\nd1,user,Hello\nd1,assistant,Hi th\xffere\nd2,user,Second\nd2,assistant,Reply\n"
    )
    rows, rejections = read("utterance_csv", path, UTT_CFG)
    assert [r["source_record_id"] for r in rows] == ["d2"]
    assert [(r.reason, r.source_line) for r in rejections] == [("invalid_utf8", 3), ("contains_bad_row", 2)]
    assert "line 3" in rejections[1].detail


def test_utterance_csv_non_contiguous_conversation(read, tmp_path):
    path = tmp_path / "interleaved.csv"
    path.write_text("dialog,role,text\nd1,user,A\nd1,assistant,B\nd2,user,C\nd1,user,D\nd2,assistant,E\n")
    rows, rejections = read("utterance_csv", path, UTT_CFG)
    # the first run of each id is read; every run that comes back later is rejected
    assert [(r["source_record_id"], r["n_turns"]) for r in rows] == [("d1", 2), ("d2", 1)]
    assert [(r.reason, r.source_line) for r in rejections] == [
        ("non_contiguous_conversation", 5),
        ("non_contiguous_conversation", 6),
    ]
    assert "came earlier" in rejections[0].detail and "d1" not in rejections[0].detail


def test_csv_ten_mb_field_reads(read, tmp_path):
    path = tmp_path / "big.csv"
    answer = "calm " * (TEN_MB // 5)
    path.write_text(f'id,question,answer,upvotes\n1,Help?,"{answer}",1\n2,More?,Sure.,2\n')
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert rejections == []
    assert len(rows[0]["turns"][1]["text"]) == len(answer.strip())
    assert rows[1]["source_line"] == 3


def test_csv_field_over_configured_limit_costs_only_its_line(read, tmp_path):
    path = tmp_path / "limit.csv"
    path.write_text(f"id,question,answer,upvotes\n1,Ok?,Yes.,1\n2,Big?,{'x' * 5000},1\n3,Next?,No.,1\n")
    rows, rejections = read("qa_csv", path, QA_CFG, options={"max_field_bytes": 1000})
    assert [r["source_record_id"] for r in rows] == ["1", "3"]
    assert [(r.reason, r.source_line) for r in rejections] == [("csv_error", 3)]
    assert "resumes on the next line" in rejections[0].detail


def test_qa_csv_bad_metadata(read, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("id,question,answer,upvotes\n1,Ok?,Yes.,lots\n")
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert rows == []
    assert [(r.reason, r.source_line) for r in rejections] == [("bad_metadata", 2)]


def test_reader_crash_costs_only_that_file(tmp_path, split_items):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.parquet").write_bytes(b"this is not parquet")
    source = source_config(format="parquet", read=["*.parquet"], license="test")
    rows, rejections = split_items(read_source(tmp_path, "src", source, READ_OPTIONS))
    assert rows == []
    assert reasons(rejections) == ["unreadable_file"]
    assert rejections[0].source_file == "src/a.parquet"
    assert "rest of file skipped" in rejections[0].detail


def test_read_pattern_matching_nothing_is_a_config_error(tmp_path):
    (tmp_path / "src").mkdir()
    source = source_config(format="jsonl", read=["*.jsonl"], license="test")
    with pytest.raises(FileNotFoundError, match="matches nothing"):
        list(read_source(tmp_path, "src", source, READ_OPTIONS))


# --- ingest.run end to end ------------------------------------------------------------------


@pytest.fixture
def bad_raw(tmp_path) -> tuple[Path, dict]:
    raw = tmp_path / "raw"
    files = {
        "chats/a_good.jsonl": (jsonl_line(GOOD, id="g1") + jsonl_line(GOOD, id="g2")).encode(),
        "chats/b_broken.jsonl": (
            jsonl_line(GOOD, id="b1") + "{not json\n" + jsonl_line(GOOD, id="b3")
        ).encode(),
        "chats/c_latin1.jsonl": b'{"id": "l1", "turns": [{"role": "user", "text": "caf\xe9"}]}\n',
        "chats/d_content.jsonl": (
            jsonl_line([{"role": "user"}, {"role": "assistant", "text": "?"}], id="notext")
            + jsonl_line([{"role": "Narrator", "text": "Once"}, {"role": "user", "text": "hi"}], id="role")
            + jsonl_line([{"role": "user", "text": "  "}, {"role": "assistant", "text": "?"}], id="blank")
            + jsonl_line(
                [{"role": "user", "text": "x" * TEN_MB}, {"role": "assistant", "text": "ok"}], id="huge"
            )
            + jsonl_line(GOOD, id="g1")  # duplicate record id within the source
        ).encode(),
        "chats/e_empty.jsonl": b"",
        "arrays/cut.json": json.dumps([{"turns": GOOD}, {"turns": GOOD}])[:-20].encode(),
        "arrays/empty.json": b"",
        "qa/empty.csv": b"",
        "qa/shifted.csv": b"id,question,answer,upvotes\n1,Ok?,Yes.,1\n2,Why,not?,No.,1\n",
        "qa/latin1.csv": b"id,question,answer,upvotes\n1,Caf\xe9?,Oui.,1\n",
        "utt/interleaved.csv": b"dialog,role,text\nd1,user,A\nd2,user,B\nd1,assistant,C\n",
    }
    for relpath, content in files.items():
        path = raw / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    sources = {
        "chats": source_config(format="jsonl", read=["*.jsonl"], license="test", mapping={"id": "id"}),
        "arrays": source_config(format="json", read=["*.json"], license="test"),
        "qa": source_config(format="qa_csv", read=["*.csv"], license="test", **QA_CFG),
        "utt": source_config(format="utterance_csv", read=["*.csv"], license="test", **UTT_CFG),
    }
    return raw, sources


def run_ingest(raw: Path, sources: dict, out: Path):
    """The ingest stage on `sources` in `raw`, with params.yaml's ingest and executor settings."""
    paths = TablePaths(raw, out / "o.parquet", out / "q.parquet", out / "l.json")
    return ingest.run(INGEST.model_copy(update={"sources": sources}), paths), paths


def test_run_ingest_accounts_for_every_bad_input(bad_raw, tmp_path, frame):
    ledger, paths = run_ingest(*bad_raw, tmp_path)
    out, quarantine, ledger_path = paths.output, paths.quarantine, paths.ledger

    report = json.loads(ledger_path.read_text())
    assert report == ledger.as_dict()
    assert report["rows_in"] == report["rows_out"] + sum(report["dropped"].values())
    assert report["rows_dropped"] == sum(report["dropped"].values())
    assert report["dropped"] == {
        "csv_field_count": 1,
        "duplicate_record_id": 1,
        "empty_file": 3,
        "invalid_json": 2,
        "invalid_utf8": 2,
        "non_contiguous_conversation": 1,
    }
    for source, counts in report["by_source"].items():
        dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
        assert counts["in"] == counts.get("out", 0) + dropped, source
    assert report["by_source"]["chats"]["out"] == 8  # g1 g2 b1 b3 notext role blank huge

    kept = pq.read_table(out)
    assert kept.num_rows == report["rows_out"] == 8 + 1 + 1 + 2  # chats, arrays, qa, utt

    rows = pq.read_table(quarantine).to_pylist()
    assert len(rows) == report["rows_dropped"]
    assert all(r["stage"] == "ingest" and r["source_file"] and r["reason"] and r["detail"] for r in rows)
    located = {(r["reason"], r["source_file"], r["source_line"]) for r in rows}
    assert ("invalid_json", "chats/b_broken.jsonl", 2) in located
    assert ("invalid_utf8", "chats/c_latin1.jsonl", 1) in located
    assert ("duplicate_record_id", "chats/d_content.jsonl", 5) in located
    assert ("invalid_json", "arrays/cut.json", 2) in located
    assert ("csv_field_count", "qa/shifted.csv", 3) in located
    assert ("invalid_utf8", "qa/latin1.csv", 2) in located
    assert ("non_contiguous_conversation", "utt/interleaved.csv", 4) in located
    assert {r["source_file"] for r in rows if r["reason"] == "empty_file"} == {
        "chats/e_empty.jsonl",
        "arrays/empty.json",
        "qa/empty.csv",
    }
    assert all(r["source_line"] is not None for r in rows if r["reason"] != "empty_file")
    assert all(r["excerpt"] is None or len(r["excerpt"]) <= 200 for r in rows)

    # the content problems pass ingest and are caught, located, by validate
    chats = frame([r for r in kept.to_pylist() if r["source_file"] == "chats/d_content.jsonl"])
    survivors, dropped = validate_batch(chats, MAX_TURN_CHARS)
    assert survivors.empty
    assert sorted((r.reason, r.source_line) for r in dropped) == [
        ("empty_turn", 3),
        ("missing_text", 1),
        ("text_too_long", 4),
        ("unknown_role", 2),
    ]


def test_run_ingest_output_is_byte_identical_across_runs(bad_raw, tmp_path):
    raw, sources = bad_raw
    sources = {k: v for k, v in sources.items() if k != "chats"}  # skip the 10 MB file for speed
    digests = []
    for run in ("one", "two"):
        _, paths = run_ingest(raw, sources, tmp_path / run)
        tables = [*table_bytes(paths.output), *table_bytes(paths.quarantine)]
        digests.append([*tables, paths.ledger.read_bytes()])
    assert digests[0] == digests[1]


def test_qa_csv_fractional_count_is_rejected_not_truncated(read, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("id,question,answer,upvotes\n1,Ok?,Yes.,3.7\n2,Ok?,Yes.,4.0\n")
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert [r["upvotes"] for r in rows] == [4]
    assert [(r.reason, r.source_line) for r in rejections] == [("bad_metadata", 2)]
    assert rejections[0].excerpt == "upvotes='3.7'" and "3.7" not in rejections[0].detail
