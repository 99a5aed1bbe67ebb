"""Every script in examples/ runs, with the command README's "Examples" section shows, from the
root of a copy of the session's sample run (tagged v1). A script in examples/ without a command
here, or a command missing from the README, fails the first test.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from pixelated.core.config import read_params
from tests.e2e.conftest import copy_run, override_config, run_ok
from tests.paths import REPO

COMMANDS = {
    "add_source.py": "python examples/add_source.py .",
    "finetune_from_hf.py": "python examples/finetune_from_hf.py .",
    "restore_and_diff.py": "python examples/restore_and_diff.py . v1",
    "review_loop.py": "python examples/review_loop.py .",
    "s3_remote.py": "python examples/s3_remote.py .",
}


def example(name: str, repo: Path, env: dict) -> str:
    """Run an example's README command in `repo`; its output (the test fails if it fails)."""
    command = shlex.split(COMMANDS[name])
    return run_ok([sys.executable, *command[1:]], repo, env)


def commit(repo: Path, env: dict, tag: str) -> None:
    run_ok(["git", "add", "-A"], repo, env)
    run_ok(["git", "commit", "-qm", tag], repo, env)
    run_ok(["git", "tag", tag], repo, env)


@pytest.fixture
def workspace(sample_run, tmp_path) -> tuple[Path, dict]:
    """A private copy of the sample run, its outputs committed as version v1."""
    root, env = copy_run(sample_run, tmp_path)
    commit(root, env, "v1")
    return root, env


def test_every_example_has_a_tested_command_in_the_readme():
    scripts = sorted(path.name for path in (REPO / "examples").glob("*.py") if not path.name.startswith("_"))
    assert scripts == sorted(COMMANDS)
    readme = (REPO / "README.md").read_text()
    assert [name for name, command in COMMANDS.items() if f"`{command}`" not in readme] == []


def test_add_source(workspace):
    out = example("add_source.py", *workspace)
    assert "chats.jsonl:2: invalid_json: Expecting value at column 1" in out  # pixelated check
    assert "ingest ledger, helpline: {'dropped_invalid_json': 1, 'in': 4, 'out': 3}" in out
    assert "validate ledger, helpline: {'dropped_empty_turn': 1, 'in': 3, 'out': 2}" in out


def test_finetune_from_hf(workspace):
    repo, env = workspace
    out = example("finetune_from_hf.py", repo, env)
    assert "{'epoch': 1, 'train_loss':" in out
    assert (repo / "models" / "finetuned_from_hf" / "model.safetensors").is_file()


def test_restore_and_diff(workspace):
    repo, env = workspace
    backup = [sys.executable, "-m", "pixelated.versioning", "backup"]
    run_ok(backup, repo, env)
    # v2 bins the report's word counts differently: only report reruns, so the versions differ cheaply
    words_bin = read_params(REPO / "params.yaml")["report"]["words_bin"]
    override_config(repo / "conf" / "config.yaml", {"report": {"words_bin": 2 * words_bin}})
    run_ok([sys.executable, "-m", "pixelated.core.params"], repo, env)
    run_ok(["dvc", "repro"], repo, env)
    commit(repo, env, "v2")
    run_ok(backup, repo, env)
    out = example("restore_and_diff.py", repo, env)
    assert "restored v1:" in out
    assert f"| `report.words_bin` | `{2 * words_bin}` | `{words_bin}` |" in out  # HEAD (v2) -> workspace (v1)
    assert "up to date" in run_ok(["dvc", "status", "dvc.yaml"], repo, env)
    v1_lock = run_ok(["git", "show", "v1:dvc.lock"], repo, env)
    assert (repo / "dvc.lock").read_text() == v1_lock


def test_review_loop(workspace):
    out = example("review_loop.py", *workspace)
    assert "reviewer said keep, select kept it (review)" in out
    assert "reviewer said drop, select dropped it (review_rejected)" in out


def test_s3_remote(workspace):
    out = example("s3_remote.py", *workspace)
    assert "backup complete:" in out
    assert "Data and pipelines are up to date." in out
