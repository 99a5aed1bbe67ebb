"""End to end: a fresh copy of the repo runs the whole DVC pipeline on a sample of the shared
data (the first SAMPLE conversations of each source), and reruns nothing the second time. That
run is the session's shared sample run; test_versioning.py runs an experiment in a copy of it. The
same on all of the shared data is a slow test."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import CANARY_ROWS, SAMPLE, STAGES, make_clone, stages_run
from tests.e2e.conftest import run_ok as _run
from tests.paths import SHARED_DATA
from tests.unit.reporting.release import assert_card_describes_release

# Records per shared source, as each folder's SOURCE.md counts them (by hand, independently of
# the readers under test; test_source_records_are_those_of_source_md keeps the two in step).
SOURCE_RECORDS = {
    "counsel_chat": 2129,
    "empathetic_intents": 9097,
    "esconv_failed": 196,
    "esconv_multiesc": 390,
    "hope_sample": 8,
    "mi_counselchat": 1129,
}
# the planted values, and the distinctive parts that must not survive in any form
CANARIES = ("Okonkwo", "canary7f3a", "555-0199", "Larkspur")


def _check_ledgers(root) -> dict:
    """Every ledger balances, and the dataset card's counts and hashes are those of the
    released splits and of each export, recounted from the files."""
    for ledger_file in sorted((root / "reports" / "ledger").glob("*.json")):
        ledger = json.loads(ledger_file.read_text())
        assert ledger["rows_in"] == ledger["rows_out"] + sum(ledger["dropped"].values()), ledger_file
    card = (root / "reports" / "DATASET_CARD.md").read_text()
    assert_card_describes_release(card, root / "data" / "splits", root / "data" / "export")
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["conversations"] == metrics["ledger"]["split"]["rows_out"]  # the released data
    return metrics


@pytest.mark.slow
def test_full_data_pipeline(tmp_path):
    root, env = make_clone(tmp_path / "repo", sample=None)
    assert stages_run(_run(["dvc", "repro"], root, env)) == set(STAGES)
    metrics = _check_ledgers(root)
    assert metrics["ledger"]["ingest"]["rows_in"] == sum(SOURCE_RECORDS.values()) + CANARY_ROWS


def _readable(path: Path) -> str:
    """A file's content as text; Parquet is decoded (its pages are compressed)."""
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
    return path.read_bytes().decode("utf-8", errors="replace")


def _assert_no_canary(root, log_output: str) -> None:
    raw = pq.read_table(root / "data" / "raw" / "validated.parquet").to_pylist()
    planted = json.dumps(raw, ensure_ascii=False)
    assert all(canary in planted for canary in CANARIES)  # the canary did go in
    places = [*(root / "data").rglob("*"), *(root / "reports").rglob("*"), *(root / "mlruns").rglob("*")]
    files = [p for p in places if p.is_file() and (root / "data" / "raw") not in p.parents]
    files.append(root / "mlflow.db")
    assert any(p.match("data/interim/anonymized.parquet/part-*.parquet") for p in files)
    leaks = [
        (p.relative_to(root).as_posix(), canary)
        for p in files
        for canary in CANARIES
        if canary.casefold() in _readable(p).casefold()
    ]
    leaks += [("log output", canary) for canary in CANARIES if canary in log_output]
    assert leaks == []


def test_source_records_are_those_of_source_md(shared_sources):
    for name, records in SOURCE_RECORDS.items():
        stated = (SHARED_DATA / shared_sources[name].location / "SOURCE.md").read_text()
        assert f"**{records:,}" in stated, name


def test_repro_runs_everything_then_nothing(sample_run):
    root = sample_run.root
    assert stages_run(sample_run.first) == set(STAGES)
    _check_ledgers(root)
    ingest = json.loads((root / "reports" / "ledger" / "ingest.json").read_text())
    assert {name: counts["out"] for name, counts in ingest["by_source"].items()} == {
        **{name: min(SAMPLE, n) for name, n in SOURCE_RECORDS.items()},
        "canary": CANARY_ROWS,
    }
    _assert_no_canary(root, sample_run.first)
    # a clean clone starts with empty caches: every text the cache holds was embedded in this run
    cache = json.loads((root / "reports" / "resources.json").read_text())["dedup"]
    assert cache["embedded"] == pq.read_metadata(root / "data" / "cache" / "embeddings.parquet").num_rows > 0

    assert stages_run(sample_run.second) == set()
    assert "up to date" in sample_run.status
