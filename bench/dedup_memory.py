"""Dedup's peak memory as its input grows (issue 14: no stage holds the whole dataset).

For each --sizes, a corpus of that many conversations: real ones from --input, then perturbed
copies (`bench.dedup_bench.grown`, as the speed benchmark grows its corpus). Each goes through
the dedup stage's own `dedup.run`, with the repository's params and executor, in a fresh
process; the peak RSS is that process's or its largest worker's (`resources.measure`, as
reports/resources.json records it). Semantic dedup is off unless --semantic: embedding two
texts per conversation on a CPU takes hours at these sizes, and bench/semantic_scaling.py
times its search apart. Ratios are to the smallest size, measured in the same run.

    python -m bench.dedup_memory --input data/interim/anonymized.parquet [--sizes 50000 200000 800000]
writes bench/results/dedup_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench import command_line
from bench.dedup_bench import grown
from pixelated.core import resources
from pixelated.core.config import load_config
from pixelated.core.tableio import to_pandas
from pixelated.dedup import dedup

REPO = Path(__file__).resolve().parents[1]


def write_corpus(table: pa.Table, size: int, seed: int, path: Path, batch_size: int) -> None:
    """`size` conversations grown from `table`, with its schema, at `path`, in row groups of
    `batch_size` as the stages write theirs (a reader holds one row group at a time)."""
    real = to_pandas(table).assign(turns=lambda f: f["turns"].map(list))
    corpus = pa.Table.from_pandas(grown(real, size, seed), schema=table.schema, preserve_index=False)
    pq.write_table(corpus, path, row_group_size=batch_size)


def stage_config(semantic: bool) -> dedup.DedupStageConfig:
    """The repository's dedup params, with semantic dedup on or off."""
    cfg = load_config(dedup.DedupStageConfig, REPO / "params.yaml")
    switched = cfg.dedup.semantic.model_copy(update={"enabled": semantic})
    return cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"semantic": switched})})


def run_stage(corpus: Path, out: Path, semantic: bool) -> dict:
    """The dedup stage on `corpus`, in this process; its resources entry."""
    cfg = stage_config(semantic)
    names = ("output", "clusters", "quarantine", "ledger")
    paths = dedup.DedupPaths(
        corpus, *(out / f"{name}.parquet" for name in names), out / "report.json", out / "cache.parquet"
    )
    dedup.run(cfg, paths)
    return resources.measure(paths.ledger)


def measure_size(table: pa.Table, size: int, args, work: Path) -> dict:
    """Write the corpus of `size`, run the stage on it in a fresh process, return its entry."""
    corpus, out = work / f"corpus-{size}.parquet", work / f"out-{size}"
    write_corpus(table, size, args.seed, corpus, stage_config(False).executor.batch_size)
    out.mkdir()
    command = [sys.executable, "-m", "bench.dedup_memory", "--run", str(corpus), str(out)]
    command += ["--semantic"] if args.semantic else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"dedup on {size} conversations failed:\n{done.stderr[-2000:]}")
    entry = json.loads(done.stdout.strip().splitlines()[-1])
    corpus.unlink()
    return {key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "rows_in", "rows_out")}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--input", type=Path, default=REPO / "data/interim/anonymized.parquet")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 800_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--semantic", action="store_true")
    parser.add_argument("--run", type=Path, nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/dedup_memory.json")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_stage(*args.run, args.semantic)))
        return
    table = pq.read_table(args.input)
    with tempfile.TemporaryDirectory(prefix="dedup-memory-") as work:
        rows = {size: measure_size(table, size, args, Path(work)) for size in sorted(args.sizes)}
    smallest = rows[min(rows)]
    for size, row in rows.items():
        row["rss_ratio_to_smallest"] = round(row["peak_rss_mb"] / smallest["peak_rss_mb"], 3)
        row["time_ratio_to_smallest"] = round(row["wall_s"] / smallest["wall_s"], 3)
        row["data_ratio_to_smallest"] = round(size / min(rows), 3)
    largest = rows[max(rows)]
    result = {
        "semantic": args.semantic,
        "cpus": os.cpu_count(),
        "sizes": {str(size): row for size, row in rows.items()},
        "rss_growth_kb_per_conversation": round(
            (largest["peak_rss_mb"] - smallest["peak_rss_mb"]) * 1024 / max(1, max(rows) - min(rows)), 3
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
