"""The scale benchmark's logic (bench/scale.py): which sizes are compared, the targets and their
verdicts, that a corpus is generated once per size and seed and carries the label sources the
stages acquire. No pipeline runs here."""

import json

import pytest

from bench.scale import (
    GB,
    MAX_RSS_MB,
    add_label_sources,
    bounding_knobs,
    by_stage,
    corpus,
    reference_pair,
    scaling,
    verdicts,
)
from pixelated.core.config import read_params
from tests.conftest import source_config
from tests.paths import REPO


def entry(wall: float, rss: float) -> dict:
    return {"wall_s": wall, "cpu_s": 2 * wall, "peak_rss_mb": rss, "rows_in": 10, "rows_per_s": 10 / wall}


@pytest.mark.parametrize(
    ("sizes", "pair"),
    [
        ([0.25, 0.5, 1, 2], (0.5, 2)),  # the issue's run: 2 GB against 0.5 GB
        ([0.008, 0.002], (0.002, 0.008)),
        ([0.1, 0.3, 1], (0.1, 1)),  # 0.3 is more than a quarter of 1
        ([1, 2], (1, 2)),  # none is a quarter: the smallest
    ],
)
def test_reference_is_the_largest_size_at_most_a_quarter_of_the_largest(sizes, pair):
    assert reference_pair(sizes) == pair


def test_memory_knobs_shrink_with_a_run_smaller_than_the_issues():
    params = read_params(REPO / "params.yaml")
    defaults = {
        "executor": {"shard_rows": params["executor"]["shard_rows"]},
        "scorers": {"max_labelled_units": params["scorers"]["max_labelled_units"]},
    }
    assert bounding_knobs(2) == bounding_knobs(4) == defaults  # the issue's run keeps the defaults
    small = bounding_knobs(0.032)  # 1/62.5 of 2 GB
    assert small["executor"]["shard_rows"] == round(defaults["executor"]["shard_rows"] * 0.016)
    assert small["scorers"]["max_labelled_units"] == round(defaults["scorers"]["max_labelled_units"] * 0.016)


def test_targets_per_stage_between_reference_and_largest():
    runs = {
        0.5: {"ingest": entry(10, 200), "dedup": entry(10, 1000)},
        1: {"ingest": entry(20, 210), "dedup": entry(30, 3000)},
        2: {"ingest": entry(40, 250), "dedup": entry(50, 5000)},
    }
    result = scaling(runs)
    assert (result["reference_gb"], result["largest_gb"], result["data_ratio"]) == (0.5, 2, 4)
    ingest, dedup = result["stages"]["ingest"], result["stages"]["dedup"]
    assert ingest["peak_rss_ratio"] == {"value": 1.25, "max": 1.3, "pass": True}
    assert ingest["wall_time_ratio"] == {"value": 4.0, "max": 4.5, "pass": True}
    assert ingest["cpu_time_ratio"] == 4.0
    assert dedup["peak_rss_ratio"]["pass"] is dedup["wall_time_ratio"]["pass"] is False
    assert dedup["peak_rss_mb_at_largest"] == {"value": 5000, "max": round(MAX_RSS_MB, 3), "pass": False}
    assert by_stage(runs)["dedup"] == {
        "0.5GB": runs[0.5]["dedup"],
        "1GB": runs[1]["dedup"],
        "2GB": runs[2]["dedup"],
    }


def test_time_bound_follows_the_sizes_actual_ratio():
    """Twice the data may take 2.25 times as long (4.5 for four times)."""
    result = scaling({1: {"ingest": entry(10, 100)}, 2: {"ingest": entry(23, 100)}})
    assert result["data_ratio"] == 2
    assert result["stages"]["ingest"]["wall_time_ratio"] == {"value": 2.3, "max": 2.25, "pass": False}


def test_verdicts_name_every_target_and_skip_the_rest():
    tree = {
        "scaling": {
            "ingest": {"peak_rss_ratio": {"value": 1.0, "max": 1.3, "pass": True}, "cpu_time_ratio": 2.0}
        },
        "baselines": {"anonymize": {"texts": 5, "over_raw": {"value": 0.5, "min": 0.8, "pass": False}}},
    }
    assert verdicts(tree) == {"scaling.ingest.peak_rss_ratio": True, "baselines.anonymize.over_raw": False}
    assert verdicts({"baselines": {"skipped": "the run stopped before validate"}}) == {}


def test_corpus_is_generated_once_per_size_and_seed(tmp_path, canonical_row):
    rows = [canonical_row(i) for i in range(30)]
    reads = []

    def shared():
        reads.append(1)
        return {"fixture": source_config()}, rows

    size = 5000 / GB
    first = corpus(size, 1, tmp_path, shared)
    assert json.loads((first / "manifest.json").read_text())["size_requested"] == 5000
    written = (first / "fixture" / "corpus.jsonl").read_bytes()
    assert corpus(size, 1, tmp_path, shared) == first and len(reads) == 1  # reused, shared data not read
    assert corpus(size, 2, tmp_path, shared) != first and len(reads) == 2
    (first / "manifest.json").unlink()  # an unfinished corpus (the manifest is written last)
    assert corpus(size, 1, tmp_path, shared) == first and len(reads) == 3
    assert (first / "fixture" / "corpus.jsonl").read_bytes() == written


def test_corpus_mirror_gets_the_pinned_epitome_labels(tmp_path, monkeypatch):
    """train_scorers acquires EPITOME from the mirror: a corpus-only mirror failed its run."""
    params = read_params(REPO / "params.yaml")
    location = params["scorers"]["epitome"]["location"]
    shared = tmp_path / "shared"
    (shared / location).mkdir(parents=True)
    (shared / location / "labels.csv").write_text("post,response,level\n")
    monkeypatch.setenv("PE_DATA_MIRROR", str(shared))
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    add_label_sources(corpus_dir, params)
    add_label_sources(corpus_dir, params)  # a reused corpus already has them
    copied = corpus_dir / location / "labels.csv"
    assert copied.read_text() == "post,response,level\n" and not copied.is_symlink()
