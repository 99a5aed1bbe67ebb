"""The review report: deltas, params/metrics/ledger sections, plot files, and one whole report
of two commits of a tiny DVC project."""

from __future__ import annotations

import json

import yaml

from pixelated.versioning.review import (
    delta,
    fmt,
    ledger_lines,
    metric_lines,
    pair_ledgers,
    param_lines,
    plot_definitions,
    plot_rows,
    review,
)
from tests.paths import REPO
from tests.unit.versioning.conftest import commit_all, git


def test_fmt_and_delta():
    assert (fmt(None), fmt(0.123456), fmt(3), fmt(True)) == ("–", "0.1235", "3", "True")
    assert delta(10, 7) == "-3 (-30.0%)"
    assert delta(0.5, 0.75) == "+0.25 (+50.0%)"
    assert delta(0, 4) == "+4"  # no relative change from zero
    assert delta(None, 4) == delta(True, False) == delta("a", "b") == ""


def test_param_and_metric_sections():
    params = {"params.yaml": {"filter_length.min_turns": {"old": 2, "new": 3}}}
    assert param_lines(params, "v1", "v2") == [
        "| param | v1 | v2 |",
        "|---|---|---|",
        "| `filter_length.min_turns` | `2` | `3` |",
    ]
    assert param_lines({}, "v1", "v2") == ["No param changed."]
    metrics = {
        "reports/metrics.json": {"conversations": {"old": 10, "new": 8}, "ratio": {"old": None, "new": 0.5}},
        "reports/ledger/split.json": {"rows_in": {"old": 1, "new": 2}},
    }
    assert metric_lines(metrics, ["reports/ledger/split.json"], "v1", "v2")[2:] == [
        "| `reports/metrics.json` | `conversations` | 10 | 8 | -2 (-20.0%) |",
        "| `reports/metrics.json` | `ratio` | – | 0.5 |  |",
    ]
    assert metric_lines({}, [], "v1", "v2") == ["No metric changed."]


def _ledger(stage: str, rows_in: int, rows_out: int, **dropped: int) -> dict:
    counts = {"rows_in": rows_in, "rows_out": rows_out, "rows_dropped": rows_in - rows_out}
    return {"stage": stage, **counts, "dropped": dropped}


def test_ledgers_follow_pipeline_order_and_show_changes():
    stages = list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    first, last = stages[0], stages[-1]
    old = {f"reports/ledger/{last}.json": _ledger(last, 10, 10), "reports/metrics.json": {"x": 1}}
    new = {
        f"reports/ledger/{last}.json": _ledger(last, 10, 7, too_short=3),
        "reports/ledger/zz_unknown.json": _ledger("zz_unknown", 1, 1),
        f"reports/ledger/{first}.json": _ledger(first, 5, 5),
    }
    ledgers = pair_ledgers(old, new, stages)
    assert list(ledgers) == [f"reports/ledger/{s}.json" for s in (first, last, "zz_unknown")]
    lines = ledger_lines(ledgers)
    assert lines[2] == f"| {first} | – → 5 | – → 5 | – → 0 | – |"  # new ledger: no delta from nothing
    assert lines[3] == f"| {last} | 10 | 10 → 7 -3 (-30.0%) | 0 → 3 +3 | too_short: 0 → 3 |"
    assert ledger_lines({}) == ["No ledgers."]


def test_plot_definitions_and_rows(tmp_path):
    spec = {
        "stages": {"a": {"cmd": "x", "plots": ["p/a.csv", {"p/b.tsv": {"x": "k", "title": "B"}}]}},
        "plots": [{"p/c.json": None}],
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(spec))
    assert plot_definitions(tmp_path) == [
        {"path": "p/a.csv"},
        {"path": "p/b.tsv", "x": "k", "title": "B"},
        {"path": "p/c.json"},
    ]
    assert plot_rows("k,v\n1,2\n", "p/a.csv") == [{"k": "1", "v": "2"}]
    assert plot_rows("k\tv\n1\t2\n", "p/b.tsv") == [{"k": "1", "v": "2"}]
    assert plot_rows(json.dumps({"points": [{"k": 1}]}), "p/c.json") == [{"k": 1}]
    assert plot_rows("- {k: 1}\n", "p/d.yaml") == [{"k": 1}]
    assert plot_rows(None, "p/a.csv") == []


def _version(root, turns: int, curve: str) -> str:
    (root / "params.yaml").write_text(yaml.safe_dump({"filter_length": {"min_turns": turns}}))
    (root / "reports" / "ledger.json").write_text(json.dumps(_ledger("filter_length", 10, 10 - turns)))
    (root / "reports" / "curve.csv").write_text(curve)
    return commit_all(root, f"min_turns {turns}")


def test_review_of_two_commits(git_repo, tmp_path):
    from dvc.repo import Repo

    Repo.init(str(git_repo)).close()
    (git_repo / "reports").mkdir()
    stage = {
        "cmd": "true",
        "params": ["filter_length"],
        "metrics": [{"reports/ledger.json": {"cache": False}}],
        "plots": [{"reports/curve.csv": {"cache": False, "x": "step", "title": "Curve"}}],
    }
    (git_repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"filter_length": stage}}))
    _version(git_repo, 2, "step,loss\n0,1.0\n1,0.5\n")
    git(git_repo, "tag", "v1")
    head = _version(git_repo, 3, "step,loss\n0,1.0\n1,0.25\n")

    target = review(git_repo, "v1", "HEAD", tmp_path / "out", image_base="https://img/")
    text = target.read_text()
    assert text.startswith("# Pipeline review: `v1` → `HEAD`\n")
    assert f"compared with `{head[:12]}`." in text
    assert "| `filter_length.min_turns` | `2` | `3` |" in text
    assert "| filter_length | 10 | 8 → 7 -1 (-12.5%) | 2 → 3 +1 (+50.0%) | – |" in text
    assert "No metric changed." in text  # the only metrics file is a ledger
    assert "### Curve\n\n![reports/curve.csv](https://img/plots/curve.png)" in text
    assert (tmp_path / "out" / "plots" / "curve.png").stat().st_size > 0
    assert "Unchanged" not in text

    same = review(git_repo, "HEAD", None, tmp_path / "same").read_text()
    assert "compared with the working tree." in same and "No param changed." in same
    assert "Unchanged: `reports/curve.csv`." in same
