"""Benchmark the anonymize stage: conversations/second on an empty span cache, and the time
of an unchanged rerun (every text served from the cache) as a ratio of that first run.

Runs the real stage script twice on the first --rows conversations of validated.parquet (build
it with `dvc repro validate`), optionally with the process executor, and writes
bench/results/anonymize_speed.json. Model loading is part of both runs, as in `dvc repro`.

    python bench/anonymize_speed.py --rows 500 [--kind process --workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]


def run_stage(work: Path, params: Path) -> float:
    """Seconds for one anonymize run in `work` (the span cache there persists between runs)."""
    args = {
        "input": work / "input.parquet",
        "output": work / "anonymized.parquet",
        "quarantine": work / "quarantine.parquet",
        "ledger": work / "ledger.json",
        "cache": work / "spans.parquet",
        "metrics": work / "anonymize.json",
    }
    command = [sys.executable, str(REPO / "stages" / "anonymize.py"), "--params", str(params)]
    for name, path in args.items():
        command += [f"--{name}", str(path)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, default=REPO / "data" / "raw" / "validated.parquet")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--kind", default="local", choices=("local", "process"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "anonymize_speed.json")
    args = parser.parse_args()

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["executor"].update(kind=args.kind, workers=args.workers)
    params["executor"]["batch_size"] = max(1, args.rows // (2 * args.workers))  # keep workers busy
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = pq.read_table(args.input).slice(0, args.rows)
        pq.write_table(table, work / "input.parquet")
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        first = run_stage(work, work / "params.yaml")
        cold_output = (work / "anonymized.parquet").read_bytes()
        rerun = run_stage(work, work / "params.yaml")
        third = run_stage(work, work / "params.yaml")
        # served from the cache, the output must be byte-identical to the analysed one
        deterministic = cold_output == (work / "anonymized.parquet").read_bytes()
    result = {
        "conversations": table.num_rows,
        "executor": {"kind": args.kind, "workers": args.workers},
        "first_run_s": round(first, 2),
        "conversations_per_s": round(table.num_rows / first, 2),
        "cached_rerun_s": round(min(rerun, third), 2),
        "cached_rerun_ratio": round(min(rerun, third) / first, 3),
        "output_deterministic": deterministic,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
