"""End to end: a fresh copy of the repo runs the whole DVC pipeline on a sample of the shared
data (the first SAMPLE conversations of each source, set in the clone's conf/ so `dvc exp run`
keeps it), reruns nothing the second time, and `dvc exp run -S` reruns only what the change
touches. The same on all of the shared data is a slow test."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pixelated.acquire import sha256_file
from tests.paths import REPO, SHARED_DATA

SAMPLE = 200
STAGES = (
    "acquire",
    "ingest",
    "validate",
    "anonymize",
    "privacy_bench",
    "filter_length",
    "split",
    "export",
    "report",
)
CANARY_DIR = REPO / "tests" / "fixtures" / "canary"
CANARY_ROWS = 1
# the planted values, and the distinctive parts that must not survive in any form
CANARIES = ("Okonkwo", "canary7f3a", "555-0199", "Larkspur")


def _run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout + result.stderr


def _ran(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def _with_canary(root) -> Path:
    """A mirror holding the shared sources (linked) plus the canary source, configured in the
    clone like any other source."""
    mirror = root.parent / "mirror"
    mirror.mkdir()
    for folder in SHARED_DATA.iterdir():
        (mirror / folder.name).symlink_to(folder)
    shutil.copytree(CANARY_DIR, mirror / "canary")
    source = {
        "location": "canary",
        "url": None,
        "files": {"canary.jsonl": sha256_file(CANARY_DIR / "canary.jsonl")},
        "read": ["canary.jsonl"],
        "format": "jsonl",
        "license": "CC0 (synthetic test record)",
        "commercial_use": True,
        "consent": True,
        "consent_basis": "synthetic record written for the canary test",
        "role_map": {},
        "pseudonymize": [],
        "mapping": {
            "turns": "dialog",
            "role": "speaker",
            "text": "text",
            "turn_fields": {},
            "metadata": {"situation": "situation"},
        },
    }
    with open(root / "conf" / "sources" / "shared.yaml", "a") as handle:
        handle.write("\n" + yaml.safe_dump({"canary": source}, sort_keys=False))
    return mirror


def make_clone(root, sample: int | None):
    """The repo's tracked and unignored files in a new git repo, as a clean clone would be,
    reading only the first `sample` conversations of each source when one is given, plus the
    canary source."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    if sample is not None:
        config = root / "conf" / "config.yaml"
        text = config.read_text()
        assert "max_per_source: null" in text
        text = text.replace("max_per_source: null", f"max_per_source: {sample}")
        assert "per_type: 500" in text  # privacy benchmark: 50 planted values per type is enough here
        config.write_text(text.replace("per_type: 500", "per_type: 50"))
    mirror = _with_canary(root)
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "PE_DATA_MIRROR": str(mirror),
        "HF_HUB_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    _run(["git", "init", "-q"], root, env)
    _run([sys.executable, "-m", "pixelated.params"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "clone"], root, env)
    return root, env


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return make_clone(tmp_path_factory.mktemp("clone") / "repo", SAMPLE)


def _check_ledgers(root) -> dict:
    for stage in ("ingest", "validate", "anonymize", "filter_length"):
        ledger = json.loads((root / "reports" / "ledger" / f"{stage}.json").read_text())
        assert ledger["rows_in"] == ledger["rows_out"] + sum(ledger["dropped"].values())
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["conversations"] == metrics["ledger"]["filter_length"]["rows_out"]
    return metrics


def test_repro_runs_everything_then_nothing(clone):
    root, env = clone
    # report's outputs are all in git and byte-identical, so a clean clone may skip it
    output = _run(["dvc", "repro"], root, env)
    assert _ran(output) == set(STAGES)
    metrics = _check_ledgers(root)
    ingested = json.loads((root / "reports" / "ledger" / "ingest.json").read_text())["by_source"]
    # six sources, at most SAMPLE each (hope_sample has 8 records, esconv_failed 196), + canary
    assert len(ingested) == 7 and ingested["canary"]["out"] == CANARY_ROWS
    assert all(0 < counts["out"] <= SAMPLE for counts in ingested.values())
    assert metrics["ledger"]["ingest"]["rows_out"] == sum(c["out"] for c in ingested.values())
    _assert_no_canary(root, output)

    assert _ran(_run(["dvc", "repro"], root, env)) == set()
    assert "up to date" in _run(["dvc", "status"], root, env)


@pytest.mark.slow
def test_full_data_pipeline(tmp_path):
    root, env = make_clone(tmp_path / "repo", sample=None)
    assert _ran(_run(["dvc", "repro"], root, env)) == set(STAGES)
    metrics = _check_ledgers(root)
    # every record of the six shared datasets, and the canary
    assert metrics["ledger"]["ingest"]["rows_in"] == 12949 + CANARY_ROWS


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
    assert any(p.match("data/interim/anonymized.parquet") for p in files)
    leaks = [
        (p.relative_to(root).as_posix(), canary)
        for p in files
        for canary in CANARIES
        if canary.casefold() in _readable(p).casefold()
    ]
    leaks += [("log output", canary) for canary in CANARIES if canary in log_output]
    assert leaks == []


def _out_hashes(root) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def test_from_scratch_runs_give_identical_hashes(clone):
    root, env = clone
    _run(["dvc", "repro"], root, env)
    first = _out_hashes(root)
    assert _ran(_run(["dvc", "repro", "--force"], root, env)) == set(STAGES)
    assert _out_hashes(root) == first


def test_exp_run_override_reruns_only_downstream(clone):
    root, env = clone
    _run(["dvc", "repro"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "--allow-empty", "-qm", "v1"], root, env)
    output = _run(["dvc", "exp", "run", "-S", "filter.max_turns=40"], root, env)
    assert _ran(output) == {"filter_length", "split", "export", "report"}
    ledger = json.loads((root / "reports" / "ledger" / "filter_length.json").read_text())
    assert ledger["dropped"]["too_many_turns"] > 0  # sampled ESConv dialogues exceed 40 turns
