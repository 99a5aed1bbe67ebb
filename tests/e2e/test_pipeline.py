"""End to end: a fresh copy of the repo runs the whole DVC pipeline on a sample of the shared
data (the first SAMPLE conversations of each source, set in the clone's conf/ so `dvc exp run`
keeps it), reruns nothing the second time, and `dvc exp run -S` reruns only what the change
touches. The first run is the session's shared sample run; the experiments run in a copy of it.
The same on all of the shared data is a slow test.

The two quick tests come last: xdist hands a worker its next file once two of its tests are
left, and that file should not wait behind a long experiment."""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.e2e.conftest import CANARY_ROWS, SAMPLE, STAGES, copy_run, make_clone, stages_run
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


@pytest.fixture(scope="module")
def clone(sample_run, tmp_path_factory):
    """A copy of the sample run for the experiments, which run one after another in it."""
    return copy_run(sample_run, tmp_path_factory.mktemp("clone"))


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
    assert any(p.match("data/interim/anonymized.parquet") for p in files)
    leaks = [
        (p.relative_to(root).as_posix(), canary)
        for p in files
        for canary in CANARIES
        if canary.casefold() in _readable(p).casefold()
    ]
    leaks += [("log output", canary) for canary in CANARIES if canary in log_output]
    assert leaks == []


def test_exp_run_quality_threshold_reruns_only_select_and_after(clone):
    root, env = clone
    _run(["dvc", "repro"], root, env)
    before = json.loads((root / "reports" / "ledger" / "select.json").read_text())
    # a threshold the sample's kept conversations straddle: about a quarter of them fall below it
    kept = sorted(pq.read_table(root / "data" / "interim" / "selected.parquet").column("quality").to_pylist())
    ran = _exp_run(root, env, f"quality.min_score={kept[len(kept) // 4]}")
    assert ran == {"select", "split", "export", "train", "evaluate", "report"}
    after = json.loads((root / "reports" / "ledger" / "select.json").read_text())
    assert after["rows_in"] == before["rows_in"] and after["rows_out"] < before["rows_out"]
    quality = json.loads((root / "reports" / "quality.json").read_text())
    assert quality["agreement"]["rejected_vs_accepted"]["auc"] is not None


def _exp_run(root, env, override: str) -> set[str]:
    """Commit the reproduced workspace at the default params (an earlier experiment may have left
    its own in params.yaml), then `dvc exp run -S override`; the stages it ran."""
    _run([sys.executable, "-m", "pixelated.core.params"], root, env)
    _run(["dvc", "repro"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "--allow-empty", "-qm", f"before {override}"], root, env)
    return stages_run(_run(["dvc", "exp", "run", "-S", override], root, env))


def test_training_param_reruns_only_train_and_evaluate(clone):
    root, env = clone
    # report too: the headline metric carries recall@1
    assert _exp_run(root, env, "train.learning_rate=5.0e-05") == {"train", "evaluate", "report"}
    evaluation = json.loads((root / "reports" / "eval.json").read_text())
    models = {"finetuned", "pretrained", "tfidf", "ablation_uncurated"}
    folds = yaml.safe_load((root / "params.yaml").read_text())["split"]["cv_folds"]
    assert set(evaluation["test"]) >= models and evaluation["cv"]["folds"] == folds
    plots = json.loads(_run(["dvc", "plots", "show", "--json"], root, env))["data"]
    assert plots["Recall@k on test"] and plots["Training curve"] and plots["reports/plots/train_curve.csv"]


def test_exp_run_override_reruns_only_downstream(clone):
    root, env = clone
    ran = _exp_run(root, env, "filter_length.max_turns=40")
    assert ran == {"filter_length", "score", "select", "split", "export", "train", "evaluate", "report"}
    ledger = json.loads((root / "reports" / "ledger" / "filter_length.json").read_text())
    assert ledger["dropped"]["too_many_turns"] > 0  # sampled ESConv dialogues exceed 40 turns


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
    cache = json.loads((root / "reports" / "dedup_cache.json").read_text())
    assert cache["embedded"] == pq.read_metadata(root / "data" / "cache" / "embeddings.parquet").num_rows > 0

    assert stages_run(sample_run.second) == set()
    assert "up to date" in sample_run.status
