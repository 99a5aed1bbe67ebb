"""End to end: a fresh copy of the repo runs the whole DVC pipeline on a sample of the shared
data (the first SAMPLE conversations of each source, set in the clone's conf/ so `dvc exp run`
keeps it), reruns nothing the second time, and `dvc exp run -S` reruns only what the change
touches. The same on all of the shared data is a slow test."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.paths import REPO, SHARED_DATA

SAMPLE = 200
STAGES = ("acquire", "ingest", "validate", "filter_length", "split", "export", "train", "evaluate", "report")
MODEL_OUTS = ("models/response_selector", "models/response_selector_uncurated")
# On the sample, train and evaluate only need to run, not to learn: seconds, not minutes.
TINY_TRAINING = {
    "train": {"max_pairs": 16, "epochs": 1, "batch_size": 8, "max_seq_length": 32, "val_max_queries": 32},
    "evaluate": {"max_queries": 32, "cv": {"max_pairs": 8, "max_queries": 8}},
}


def _run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout + result.stderr


def _ran(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def make_clone(root, sample: int | None):
    """The repo's tracked and unignored files in a new git repo, as a clean clone would be,
    reading only the first `sample` conversations of each source when one is given."""
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
        config.write_text(text.replace("max_per_source: null", f"max_per_source: {sample}"))
        _override(config, TINY_TRAINING)
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "PE_DATA_MIRROR": str(SHARED_DATA),
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


def _override(config, overrides: dict) -> None:
    """Set nested keys of a Hydra config file (comments are lost: this is a throwaway clone)."""

    def merge(tree: dict, changes: dict) -> None:
        for key, value in changes.items():
            if isinstance(value, dict):
                merge(tree[key], value)
            else:
                assert key in tree, key
                tree[key] = value

    tree = yaml.safe_load(config.read_text())
    merge(tree, overrides)
    config.write_text(yaml.safe_dump(tree, sort_keys=False))


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return make_clone(tmp_path_factory.mktemp("clone") / "repo", SAMPLE)


def _check_ledgers(root) -> dict:
    for stage in ("ingest", "validate", "filter_length"):
        ledger = json.loads((root / "reports" / "ledger" / f"{stage}.json").read_text())
        assert ledger["rows_in"] == ledger["rows_out"] + sum(ledger["dropped"].values())
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["conversations"] == metrics["ledger"]["filter_length"]["rows_out"]
    return metrics


def test_repro_runs_everything_then_nothing(clone):
    root, env = clone
    # report's outputs are all in git and byte-identical, so a clean clone may skip it
    assert _ran(_run(["dvc", "repro"], root, env)) == set(STAGES)
    metrics = _check_ledgers(root)
    assert metrics["ledger"]["ingest"]["rows_out"] == 6 * SAMPLE  # six sources, SAMPLE each

    assert _ran(_run(["dvc", "repro"], root, env)) == set()
    assert "up to date" in _run(["dvc", "status"], root, env)


@pytest.mark.slow
def test_full_data_pipeline(tmp_path):
    root, env = make_clone(tmp_path / "repo", sample=None)
    assert _ran(_run(["dvc", "repro"], root, env)) == set(STAGES)
    metrics = _check_ledgers(root)
    assert metrics["ledger"]["ingest"]["rows_in"] == 12949  # every record of the six shared datasets


def _out_hashes(root) -> dict[str, str]:
    """Every output's hash but the trained models' (seeded, yet not promised byte-stable)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] not in MODEL_OUTS
    }


def test_from_scratch_runs_give_identical_hashes(clone):
    root, env = clone
    _run(["dvc", "repro"], root, env)
    first = _out_hashes(root)
    assert _ran(_run(["dvc", "repro", "--force"], root, env)) == set(STAGES)
    assert _out_hashes(root) == first


def _exp_run(root, env, override: str) -> set[str]:
    """Commit the reproduced workspace, then `dvc exp run -S override`; the stages it ran."""
    _run(["dvc", "repro"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "--allow-empty", "-qm", f"before {override}"], root, env)
    return _ran(_run(["dvc", "exp", "run", "-S", override], root, env))


def test_training_param_reruns_only_train_and_evaluate(clone):
    root, env = clone
    assert _exp_run(root, env, "train.learning_rate=5.0e-05") == {"train", "evaluate"}
    evaluation = json.loads((root / "reports" / "eval.json").read_text())
    models = {"finetuned", "pretrained", "tfidf", "ablation_uncurated"}
    assert set(evaluation["test"]) >= models and evaluation["cv"]["folds"] == 5
    assert evaluation["test"]["candidates"] == 32  # one query per test conversation, capped at 32
    plots = json.loads(_run(["dvc", "plots", "show", "--json"], root, env))["data"]
    assert plots["Recall@k on test"] and plots["Training curve"] and plots["reports/plots/train_curve.csv"]


def test_exp_run_override_reruns_only_downstream(clone):
    root, env = clone
    ran = _exp_run(root, env, "filter.max_turns=40")
    assert ran == {"filter_length", "split", "export", "train", "evaluate", "report"}
    ledger = json.loads((root / "reports" / "ledger" / "filter_length.json").read_text())
    assert ledger["dropped"]["too_many_turns"] > 0  # sampled ESConv dialogues exceed 40 turns
