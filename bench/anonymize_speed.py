"""Benchmark the anonymize stage: conversations/second on an empty span cache, and the time
of an unchanged rerun (every text served from the cache) as a ratio of that first run.

Runs the stage's own `pixelated.privacy.anonymize.run` three times on the first --rows
conversations of validated.parquet (build it with `dvc repro validate`), with params.yaml's
config and optionally the process executor, and writes bench/results/anonymize_speed.json.
Loading the analyzer is part of the first run, as in `dvc repro`; a cached rerun loads none.

    python bench/anonymize_speed.py --rows 500 [--kind process --workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from pixelated.core.config import build_config, read_params
from pixelated.privacy import anonymize

REPO = Path(__file__).resolve().parents[1]


def stage_config(params: dict, kind: str, workers: int, rows: int) -> anonymize.AnonymizeConfig:
    """params.yaml's anonymize config on `kind` with `workers`, in batches small enough that
    `rows` conversations keep every worker busy."""
    executor = {**params["executor"], "kind": kind, "workers": workers}
    executor["batch_size"] = max(1, rows // (2 * workers))
    return build_config(anonymize.AnonymizeConfig, {**params, "executor": executor})


def run_stage(cfg: anonymize.AnonymizeConfig, work: Path) -> float:
    """Seconds for one anonymize run in `work` (the span cache there persists between runs)."""
    paths = anonymize.AnonymizePaths(
        input=work / "input.parquet",
        output=work / "anonymized.parquet",
        quarantine=work / "quarantine.parquet",
        ledger=work / "ledger.json",
        cache=work / "spans.parquet",
        metrics=work / "anonymize.json",
    )
    start = time.perf_counter()
    anonymize.run(cfg, paths)
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

    cfg = stage_config(read_params(REPO / "params.yaml"), args.kind, args.workers, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = pq.read_table(args.input).slice(0, args.rows)
        pq.write_table(table, work / "input.parquet")
        first = run_stage(cfg, work)
        cold_output = (work / "anonymized.parquet").read_bytes()
        rerun = run_stage(cfg, work)
        third = run_stage(cfg, work)
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
