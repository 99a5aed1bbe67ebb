"""The dedup benchmark's targets (slow: real data, 10k and 100k conversations, MiniLM)."""

import json
import subprocess
import sys

import pytest

from tests.paths import REPO

VALIDATED = REPO / "data" / "raw" / "validated.parquet"


@pytest.mark.slow
@pytest.mark.skipif(not VALIDATED.exists(), reason="run `dvc repro validate` on the shared data first")
def test_dedup_benchmark_targets(tmp_path):
    output = tmp_path / "dedup.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.dedup_bench",
            "--input",
            str(VALIDATED),
            "--output",
            str(output),
            "--cache",
            str(tmp_path / "embeddings.parquet"),
            "--per-source",
            "150",
        ],
        cwd=REPO,
        check=True,
    )
    results = json.loads(output.read_text())
    combined = results["quality"]["combined"]
    assert combined["f1"] >= 0.95
    assert combined["precision_on_hard_negatives"] >= 0.98
    assert results["speed"]["10000"]["speedup_vs_naive"] >= 3
    assert results["scaling"]["time_ratio"] <= 12
