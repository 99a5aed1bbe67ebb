"""The command line parses every subcommand, shows help, and turns errors into exit status 2;
the MLflow store paths come from params.yaml."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pixelated.core.config import ConfigError, read_params
from pixelated.versioning.cli import main, parser
from pixelated.versioning.mlflow_store import MLFLOW_BACKUP, mlflow_paths, snapshot_mlflow
from pixelated.versioning.repo import VersioningError
from pixelated.versioning.rollback import DEFAULT_ALIAS
from tests.paths import REPO

COMMANDS = ["backup", "verify", "restore", "restore-mlflow", "review", "rollback"]


def test_module_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "pixelated.versioning", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert all(command in result.stdout for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    assert f"python -m pixelated.versioning {command}" in capsys.readouterr().out


def test_arguments_and_defaults():
    args = parser().parse_args(["--root", "x", "verify", "--remote", "s3", "--rehash"])
    assert (args.command, str(args.root), args.remote, args.rehash) == ("verify", "x", "s3", True)
    args = parser().parse_args(["review", "v1"])
    assert (args.base, args.rev, str(args.output), args.image_base) == ("v1", None, "review", "")
    args = parser().parse_args(["rollback", "v1", "--model", "m"])
    assert (args.rev, args.model, args.alias) == ("v1", "m", DEFAULT_ALIAS)
    with pytest.raises(SystemExit):
        parser().parse_args(["rollback", "v1"])  # --model is required


def test_errors_exit_2_with_the_message(git_repo, capsys):
    assert main(["--root", str(git_repo), "review", "no-such-tag"]) == 2
    assert "error: unknown revision 'no-such-tag'" in capsys.readouterr().err
    (git_repo / "params.yaml").write_text(yaml.safe_dump({"mlflow": {"tracking_uri": "sqlite:///m.db"}}))
    assert main(["--root", str(git_repo), "rollback", "HEAD", "--model", "m"]) == 2
    assert "mlflow.artifact_location" in capsys.readouterr().err


def _write_params(root, **mlflow) -> None:
    params = read_params(REPO / "params.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump({"mlflow": {**params["mlflow"], **mlflow}}))


def test_mlflow_paths_follow_params(tmp_path):
    cfg = read_params(REPO / "params.yaml")["mlflow"]
    _write_params(tmp_path)
    assert mlflow_paths(tmp_path) == (
        tmp_path / cfg["tracking_uri"].removeprefix("sqlite:///"),
        tmp_path / cfg["artifact_location"],
    )
    _write_params(tmp_path, tracking_uri="http://mlflow.example.org")
    with pytest.raises(VersioningError, match="supports sqlite tracking URIs"):
        mlflow_paths(tmp_path)
    (tmp_path / "params.yaml").write_text("{}")
    with pytest.raises(ConfigError, match="mlflow"):
        mlflow_paths(tmp_path)


def test_snapshot_copies_database_and_artifacts(tmp_path):
    _write_params(tmp_path)
    assert snapshot_mlflow(tmp_path) is None  # no store yet
    db, artifacts = mlflow_paths(tmp_path)
    with sqlite3.connect(db) as connection:
        connection.execute("create table runs (id text)")
        connection.execute("insert into runs values ('r1')")
    connection.close()
    (artifacts / "1").mkdir(parents=True)
    (artifacts / "1" / "meta.yaml").write_text("name: x\n")
    assert snapshot_mlflow(tmp_path) == Path(MLFLOW_BACKUP)
    copy = tmp_path / MLFLOW_BACKUP
    with sqlite3.connect(copy / db.name) as connection:
        assert connection.execute("select id from runs").fetchall() == [("r1",)]
    connection.close()
    assert (copy / artifacts.name / "1" / "meta.yaml").read_text() == "name: x\n"
