"""Issue 17 items 2-6: each reproduction from the probe, as a named regression test.

Every one failed on the code before the fix: a value in the log, a crash with no file or
line, a valid conversation quarantined for its neighbour's bad row, and records that
vanished from the ledger while it still balanced.
"""

from __future__ import annotations

import json
import logging

import pyarrow.parquet as pq

from pixelated.core.runner import TablePaths
from pixelated.ingest import ingest
from tests.conftest import INGEST, source_config
from tests.unit.ingest.test_malformed import QA_CFG, UTT_CFG

GOOD = [{"role": "user", "text": "I feel stuck."}, {"role": "assistant", "text": "Stuck how?"}]
PLANTED = ("Jane Roe 555-867-5309", "jane.doe@example.org", "536-82-4917", "SECRETRECORDID")


def run_ingest(raw, sources, out):
    paths = TablePaths(raw, out / "o.parquet", out / "q.parquet", out / "l.json")
    return ingest.run(INGEST.model_copy(update={"sources": sources}), paths), paths


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def write(raw, files: dict[str, bytes]) -> None:
    for relpath, content in files.items():
        path = raw / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


# --- item 2: logs carry field names, reasons and positions, never values ----------------------


def test_issue17_item2_hostile_ingest_logs_no_planted_value(tmp_path, caplog):
    name_phone, email, ssn, record_id = PLANTED
    raw = tmp_path / "raw"
    write(
        raw,
        {
            "chats/a.jsonl": jsonl(
                {"id": "ok", "turns": GOOD, "upvotes": name_phone},  # bad_metadata
                {"id": "x", "turns": [{"role": "user", "text": "hi", "feedback": email}]},
                {"id": record_id, "turns": GOOD},
                {"id": record_id, "turns": GOOD},  # duplicate id
            )
            + f'{{"id": "{ssn}", "turns": [\n'.encode()  # invalid JSON holding a value
            + f'{{"id": "z", "turns": [{{"role": "user", "text": "caf\xe9 {ssn}"}}]}}\n'.encode("latin-1"),
            "qa/a.csv": f'id,question,answer,upvotes\n1,Q?,A.,{name_phone}\n2,"{email}\n'.encode(),
            "utt/a.csv": f"dialog,role,text\n{record_id},user,a\n{record_id},user,b,{email}\n".encode(),
        },
    )
    sources = {
        "chats": source_config(
            format="jsonl",
            read=["*.jsonl"],
            mapping={"id": "id", "metadata": {"upvotes": "upvotes"}, "turn_fields": {"feedback": "feedback"}},
        ),
        "qa": source_config(format="qa_csv", read=["*.csv"], **QA_CFG),
        "utt": source_config(format="utterance_csv", read=["*.csv"], **UTT_CFG),
    }
    with caplog.at_level(logging.DEBUG):
        ledger, _ = run_ingest(raw, sources, tmp_path)
    assert sum(ledger.dropped.values()) >= 6
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "bad_metadata" in logged and "upvotes" in logged  # the field and reason are there
    for value in (*PLANTED, "555-867", "example.org", "caf"):
        assert value not in logged, value


# --- item 3: out-of-range numbers are quarantine rows, never an exception ---------------------


def test_issue17_item3_out_of_range_numbers_are_quarantined_not_a_crash(tmp_path):
    raw = tmp_path / "raw"
    write(
        raw,
        {
            "chats/a.jsonl": jsonl(
                {"id": "feedback", "turns": [{"role": "user", "text": "hi", "feedback": 99999999999}]},
                {"id": "upvotes", "turns": GOOD, "upvotes": "1e30"},
                {"id": "bigint", "turns": GOOD, "upvotes": 10**400},
                {"id": "ok", "turns": GOOD, "upvotes": "7"},
            ),
            "qa/a.csv": b"id,question,answer,upvotes\n1,Q?,A.,99999999999999999999\n2,Q?,A.,3\n",
        },
    )
    sources = {
        "chats": source_config(
            format="jsonl",
            read=["*.jsonl"],
            mapping={"id": "id", "metadata": {"upvotes": "upvotes"}, "turn_fields": {"feedback": "feedback"}},
        ),
        "qa": source_config(format="qa_csv", read=["*.csv"], **QA_CFG),
    }
    ledger, paths = run_ingest(raw, sources, tmp_path)
    assert ledger.rows_out == 2
    assert dict(ledger.dropped) == {"bad_turn_annotation": 1, "bad_metadata": 3}
    quarantine = pq.read_table(paths.quarantine).to_pylist()
    assert sorted((q["source_file"], q["source_line"]) for q in quarantine) == [
        ("chats/a.jsonl", 1),
        ("chats/a.jsonl", 2),
        ("chats/a.jsonl", 3),
        ("qa/a.csv", 2),
    ]
    assert all("range" in q["detail"] or "number" in q["detail"] for q in quarantine)


# --- item 4: a bad row quarantines only the conversation it belongs to ------------------------


def test_issue17_item4_bad_first_row_of_c2_does_not_blame_c1(read, tmp_path):
    for bad_row in (b"c2,user,shifted,extra,columns\n", b"c2,user,caf\xe9\n"):
        path = tmp_path / "dialogs.csv"
        path.write_bytes(
            b"dialog,role,text\nc1,user,Hello\nc1,assistant,Hi\n" + bad_row + b"c2,assistant,Reply\n"
        )
        rows, rejections = read("utterance_csv", path, UTT_CFG)
        assert [(r["source_record_id"], r["n_turns"]) for r in rows] == [("c1", 2)], bad_row
        assert [(r.reason, r.source_line) for r in rejections][1] == ("contains_bad_row", 5)


def test_issue17_item4_unreadable_id_blames_both_neighbours_not_silently_one(read, tmp_path):
    path = tmp_path / "dialogs.csv"
    path.write_bytes(b"dialog,role,text\nc1,user,Hello\n\xff\xfe,user,x\nc2,assistant,Reply\n")
    rows, rejections = read("utterance_csv", path, UTT_CFG)
    assert rows == []
    assert [r.reason for r in rejections] == ["invalid_utf8", "contains_bad_row", "contains_bad_row"]


# --- item 5: an unterminated quote does not swallow the rest of the file ----------------------


def test_issue17_item5_unterminated_quote_costs_one_line(read, tmp_path):
    path = tmp_path / "dialogs.csv"
    path.write_text(
        'dialog,role,text\nc1,user,Hello\nc1,assistant,"Hi there\nc2,user,Second\nc2,assistant,Reply\n'
        "c3,user,Third\nc3,assistant,Done\n"
    )
    rows, rejections = read("utterance_csv", path, UTT_CFG)
    assert [(r["source_record_id"], r["n_turns"]) for r in rows] == [("c2", 2), ("c3", 2)]
    assert [(r.reason, r.source_line) for r in rejections] == [
        ("csv_unclosed_quote", 3),
        ("contains_bad_row", 2),
    ]
    assert not any("c2,user" in (t["text"] or "") for r in rows for t in r["turns"])


def test_issue17_item5_qa_csv_unterminated_quote_keeps_later_rows(read, tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('id,question,answer,upvotes\n1,"Q?,A.,1\n2,Q2?,A2.,2\n3,Q3?,"A3, with comma",3\n')
    rows, rejections = read("qa_csv", path, QA_CFG)
    assert [r["source_record_id"] for r in rows] == ["2", "3"]
    assert [(r.reason, r.source_line) for r in rejections] == [("csv_unclosed_quote", 2)]


# --- item 6: a bad record in a JSON array costs that record only ------------------------------


def test_issue17_item6_bad_record_mid_array_keeps_the_later_records(tmp_path):
    records = [{"id": f"r{i}", "turns": GOOD} for i in range(5)]
    text = json.dumps(records, indent=1)
    broken = {
        "bad_value": text.replace('"id": "r1"', '"id": r1', 1),
        "missing_brace": text.replace('"Stuck how?"\n   }\n  ]\n }', '"Stuck how?"\n   }\n  ]\n', 1),
        "unclosed_string": text.replace('"id": "r1"', '"id": "r1', 1),
    }
    raw = tmp_path / "raw"
    write(raw, {f"{name}/a.json": body.encode() for name, body in broken.items()})
    sources = {name: source_config(format="json", read=["*.json"], mapping={"id": "id"}) for name in broken}
    ledger, paths = run_ingest(raw, sources, tmp_path)
    kept = pq.read_table(paths.output).to_pylist()
    for name in broken:
        ids = [r["source_record_id"] for r in kept if r["source"] == name]
        assert ids == [f"r{i}" for i in range(5) if i != (0 if name == "missing_brace" else 1)], name
        assert ledger.files[f"{name}/a.json"] == {"records_seen": 5, "rows": 4, "quarantined": 1}
    report = json.loads(paths.ledger.read_text())
    assert report["files"]["bad_value/a.json"]["records_seen"] == 5
