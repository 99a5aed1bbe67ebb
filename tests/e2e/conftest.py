"""Clean clones of the repository, and the one sample pipeline run the end-to-end tests share.

The sample run (the first SAMPLE conversations of each source plus the canary, with the quick
settings of SAMPLE_RUN) is reproduced once per test session, even across xdist workers: the
first worker that asks builds it under a file lock, the others wait and reuse it. Nothing runs
in it once built; tests that change a workspace take a copy (`copy_run`), which starts with
its outputs, DVC cache, MLflow store and persisted embedding caches, so no text is embedded
twice in a session.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from filelock import FileLock

from pixelated.core.hashing import sha256_file
from pixelated.ingest.acquire import add_to_mirror, resolve_mirror
from tests.paths import REPO, SHARED_DATA

SAMPLE = 20  # conversations per source: enough for ESConv dialogues over 40 turns and 2-turn Q&A
# On a sample, the privacy benchmark, training, cross-validation and the curation ablation only
# need to run, not to be precise or learn (each CV fold and each ablation arm and seed
# fine-tunes a model; tests/unit/modeling/test_ablation.py covers several seeds).
SAMPLE_RUN = {
    "privacy": {"bench": {"per_type": 10}},
    "split": {"cv_folds": 2},
    "scorers": {"max_pairs": 60},
    "train": {"max_pairs": 16, "epochs": 1, "batch_size": 8, "max_seq_length": 32, "val_max_queries": 32},
    "evaluate": {"max_queries": 32, "cv": {"max_pairs": 8, "max_queries": 8}, "ablation": {"seeds": [1]}},
}
# small batches and shards, so the sample's tables have several parts of several batches each
SAMPLE_EXECUTOR = {"batch_size": 20, "shard_rows": 40}
# The shared sample run maps its batches in each stage's own process: a pool of two for six
# batches costs more than it saves (each worker loads anonymize's models again, about 4 s of
# CPU each). test_faults keeps the pool; the executor tests compare pools with a local run.
SAMPLE_RUN_EXECUTOR = {**SAMPLE_EXECUTOR, "workers": 1}
CANARY_DIR = REPO / "tests" / "fixtures" / "canary"
CANARY_ROWS = 1
STAGES = tuple(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def run_ok(cmd, cwd, env) -> str:
    """Run a command in a clone; fail the test with its output tail when it fails."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout + result.stderr


def stages_run(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` output says it ran."""
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def _mirror_with_canary(root: Path) -> Path:
    """A mirror holding the shared sources (hard-linked or copied: acquire refuses symlinks out
    of the mirror) plus the canary source: one record with planted PII that must never leave
    data/raw. The clone configures it like any other source."""
    mirror = root.parent / "mirror"
    mirror.mkdir()
    for folder in resolve_mirror(str(SHARED_DATA)).iterdir():  # PE_DATA_MIRROR wins, as for acquire
        add_to_mirror(folder, mirror)
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


def override_config(config: Path, overrides: dict) -> None:
    """Set existing nested keys of a Hydra config file (comments are lost: a throwaway clone)."""

    def merge(tree: dict, changes: dict) -> None:
        for key, value in changes.items():
            assert key in tree, key
            if isinstance(value, dict):
                merge(tree[key], value)
            else:
                tree[key] = value

    tree = yaml.safe_load(config.read_text())
    merge(tree, overrides)
    config.write_text(yaml.safe_dump(tree, sort_keys=False))


def clone_env(root: Path) -> dict[str, str]:
    """The environment commands run with in a clone: its own source tree and mirror, offline,
    and torch's threads limited to this worker's share of the cores (two pipelines on two cores
    with two threads each run several times slower than with one thread each)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "PE_DATA_MIRROR": str(root.parent / "mirror"),
        "HF_HUB_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }


def copy_repo(root: Path) -> None:
    """The repo's tracked and unignored files under `root`, as a clean clone would hold them."""
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


def commit_clone(root: Path, env: dict[str, str]) -> None:
    """Make the copied files a git repository, with params.yaml composed from its conf/."""
    run_ok(["git", "init", "-q"], root, env)
    run_ok([sys.executable, "-m", "pixelated.core.params"], root, env)
    run_ok(["git", "add", "-A"], root, env)
    run_ok(["git", "commit", "-qm", "clone"], root, env)


def make_clone(root: Path, sample: int | None, executor: dict = SAMPLE_EXECUTOR) -> tuple[Path, dict]:
    """The repo as a clean clone would be, plus the canary source; with `sample`, only the
    first `sample` conversations of each source are read, with the quick settings of SAMPLE_RUN
    and `executor` over the default executor's."""
    copy_repo(root)
    if sample is not None:
        override_config(root / "conf" / "config.yaml", {**SAMPLE_RUN, "ingest": {"max_per_source": sample}})
        override_config(root / "conf" / "executor" / "process.yaml", executor)
    _mirror_with_canary(root)
    env = clone_env(root)
    commit_clone(root, env)
    return root, env


class SampleRun(NamedTuple):
    """The shared sample run: where it is, and what `dvc repro` said the first time (a clone
    with empty caches), the second time and `dvc status` after that."""

    root: Path
    env: dict[str, str]
    first: str
    second: str
    status: str


LOGS = ("first", "second", "status")


def _session_dir(tmp_path_factory) -> Path:
    """A folder all xdist workers of this session share (each has its own basetemp in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _build_sample_run(home: Path) -> None:
    root, env = make_clone(home / "repo", SAMPLE, SAMPLE_RUN_EXECUTOR)
    logs = {
        "first": run_ok(["dvc", "repro"], root, env),
        "second": run_ok(["dvc", "repro"], root, env),
        "status": run_ok(["dvc", "status"], root, env),
    }
    for name, text in logs.items():
        (home / f"{name}.log").write_text(text)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> SampleRun:
    """The sample pipeline, cloned and reproduced once per session; never change it in place."""
    home = _session_dir(tmp_path_factory) / "sample_run"
    with FileLock(home.with_suffix(".lock")):
        if not home.exists():
            home.mkdir()
            try:
                _build_sample_run(home)
            except Exception as error:
                (home / "failed.log").write_text(str(error))
                raise
    if (home / "failed.log").exists():
        pytest.fail(f"the shared sample run failed:\n{(home / 'failed.log').read_text()}")
    root = home / "repo"
    return SampleRun(root, clone_env(root), *((home / f"{name}.log").read_text() for name in LOGS))


def copy_run(run: SampleRun, home: Path) -> tuple[Path, dict]:
    """A private copy of the sample run to change: workspace, git history, DVC cache and MLflow
    store; not DVC's locks and state in .dvc/tmp."""
    root = home / "repo"
    shutil.copytree(run.root.parent / "mirror", home / "mirror", symlinks=True)

    def dvc_tmp(folder: str, _names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == run.root / ".dvc" else []

    shutil.copytree(run.root, root, symlinks=True, ignore=dvc_tmp)
    _move_mlflow_store(root, run.root)
    return root, clone_env(root)


def _move_mlflow_store(root: Path, old: Path) -> None:
    """Point a copied MLflow store at the copy: the database and each logged model's MLmodel
    file record artifact locations as absolute paths."""
    for mlmodel in (root / "mlruns").rglob("MLmodel"):
        mlmodel.write_text(mlmodel.read_text().replace(str(old), str(root)))
    db = sqlite3.connect(root / "mlflow.db")
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = db.execute(
                "SELECT name FROM pragma_table_info(?) WHERE type LIKE '%CHAR%' OR type = 'TEXT'", (table,)
            ).fetchall()
            for (column,) in columns:
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?)', (str(old), str(root))
                )
        db.commit()
    finally:
        db.close()
