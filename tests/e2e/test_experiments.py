"""Issue 16, item 5: experiments you can read. The headline is the only DVC metric, so the real
`dvc exp show --md` behind `make exps`, `dvc metrics show --md` and `dvc metrics diff --md`
fit on one screen (at most 40 columns), in a copy of the repository's pipeline files and
reports (all these commands read) with one param changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from pixelated.reporting.headline import HEADLINE_KEYS
from tests.paths import REPO

MAX_COLUMNS = 40
PIPELINE = ("dvc.yaml", "dvc.lock", "params.yaml", "Makefile", ".dvc/config", "reports")


def run_ok(cmd: list[str], cwd, env) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def md_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def md_header(table: str) -> list[str]:
    """The column names of the first markdown table in `table`."""
    return md_cells(next(line for line in table.splitlines() if line.startswith("|")))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A clone whose workspace is an experiment: one param and one headline number changed."""
    root = tmp_path_factory.mktemp("exps")
    for name in PIPELINE:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        copy(REPO / name, root / name)
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    run_ok(["git", "init", "-q"], root, env)
    run_ok(["git", "add", "-A"], root, env)
    run_ok(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"], root, env)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["filter_length"]["min_turns"] += 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    headline = json.loads((root / "reports" / "headline.json").read_text())
    before = headline["leakage"]
    headline["leakage"] = before + 1
    (root / "reports" / "headline.json").write_text(json.dumps(headline))
    return root, env, before


def test_headline_is_the_only_metric():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    metrics = [next(iter(m)) for stage in spec["stages"].values() for m in stage.get("metrics", [])]
    assert metrics == ["reports/headline.json"]


def test_exp_show_fits_on_one_screen(experiment):
    root, env, _ = experiment
    columns = md_header(run_ok(["make", "-s", "exps"], root, env))
    assert len(columns) <= MAX_COLUMNS, columns
    assert columns[:2] == ["Experiment", "Created"]
    assert "filter_length.min_turns" in columns  # the param this experiment changed
    shown = {column.split(".")[0] for column in columns[2:]}
    assert set(HEADLINE_KEYS) <= shown  # every headline number, changed or not
    assert not [column for column in columns if "/" in column]  # no dependency hashes


def test_metrics_show_and_diff_fit_on_one_screen(experiment):
    root, env, before = experiment
    shown = md_header(run_ok(["dvc", "metrics", "show", "--md"], root, env))
    assert shown[0] == "Path" and len(shown) <= MAX_COLUMNS
    diff = run_ok(["dvc", "metrics", "diff", "--md"], root, env)
    rows = [md_cells(line) for line in diff.splitlines() if line.startswith("| reports/")]
    assert rows == [["reports/headline.json", "leakage", str(before), str(before + 1), "1"]]
