"""The evaluate stage's peak memory as its input grows (issue 14: no stage holds the whole dataset).

For each --factors k, the splits (--splits) and everything that passed dedup (--passed-dedup)
are copied k times over, every copy with new conversation, thread and content ids, in row
groups of the stages' batch size. `evaluate.run` runs on them with the trained model
(--model) in a fresh process, with the repository's params but for a budget that does not grow
with the data and keeps the run short: `evaluate.max_queries` test queries (--queries), one
ablation seed, no CV. What grows is what the stage reads to find its samples: the pairs of
every training pool, the held-out keys, the un-curated test split's draw. Its peak RSS is that
process's or its largest worker's (`resources.measure`): a fit's, in its own process, whatever
the data. So the stage process's own peak, where the data is read, is reported beside it.
Ratios are to the smallest factor, measured in the same run.

    python -m bench.evaluate_memory [--factors 10 40 160] [--queries 500]
writes bench/results/evaluate_memory.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from bench import command_line
from bench.memory import CONVERSATION_IDS, REPO, copies, run_factors, run_fresh
from pixelated.core import resources
from pixelated.core.config import build_config, read_params
from pixelated.modeling import evaluate

SPLIT_TABLES = ("train", "validation", "test")


def stage_config(queries: int, work: Path) -> evaluate.EvaluateStageConfig:
    """The repository's params with the bench's fixed budget; MLflow writes under `work`."""
    params = read_params(REPO / "params.yaml")
    params["evaluate"] |= {"max_queries": queries}
    params["evaluate"]["cv"]["enabled"] = False
    params["evaluate"]["ablation"]["seeds"] = params["evaluate"]["ablation"]["seeds"][:1]
    params["mlflow"] |= {
        "tracking_uri": f"sqlite:///{work}/mlflow.db",
        "artifact_location": str(work / "mlruns"),
    }
    return build_config(evaluate.EvaluateStageConfig, params)


def run_evaluate(splits: str, passed: str, model: str, queries: str, out: str) -> dict:
    """The evaluate stage on the grown tables, in this process (arguments as `--run` passes
    them); its resources entry."""
    work = Path(out)
    paths = evaluate.EvaluatePaths(
        Path(splits),
        Path(passed),
        Path(model),
        work / "eval.json",
        work / "recall_at_k.csv",
        work / "fairness.csv",
    )
    evaluate.run(stage_config(int(queries), work), paths)
    entry = resources.measure()
    entry["stage_process_peak_rss_mb"] = round(resources.own_peak_rss() / 2**20, 1)
    entry["rows_in"] = sum(
        pq.read_metadata(paths.splits / f"{name}.parquet").num_rows for name in SPLIT_TABLES
    )
    return entry


def grow(args, factor: int, work: Path, batch_size: int) -> tuple[Path, Path]:
    """The split tables and the passed-dedup table copied `factor` times into `work`."""
    splits, passed = work / f"splits-{factor}", work / f"passed-{factor}.parquet"
    splits.mkdir()
    tables = {splits / f"{name}.parquet": args.splits / f"{name}.parquet" for name in SPLIT_TABLES}
    for target, source in (tables | {passed: args.passed_dedup}).items():
        pq.write_table(
            copies(pq.read_table(source), factor, CONVERSATION_IDS), target, row_group_size=batch_size
        )
    assignments = pq.read_table(args.splits / "assignments.parquet")
    pq.write_table(copies(assignments, factor, ["conversation_id"]), splits / "assignments.parquet")
    return splits, passed


def measure_factor(args, factor: int, work: Path) -> dict:
    """Grow the inputs `factor` times, evaluate on them in a fresh process, return its entry."""
    batch_size = stage_config(args.queries, work).executor.batch_size
    splits, passed = grow(args, factor, work, batch_size)
    out = work / f"out-{factor}"
    out.mkdir()
    run_args = [str(splits), str(passed), str(args.model), str(args.queries), str(out)]
    entry = run_fresh("bench.evaluate_memory", run_args, f"evaluate of {factor}x")
    return {
        key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "stage_process_peak_rss_mb", "rows_in")
    }


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--splits", type=Path, default=REPO / "data/splits")
    parser.add_argument("--passed-dedup", type=Path, default=REPO / "data/interim/deduped.parquet")
    parser.add_argument("--model", type=Path, default=REPO / "models/response_selector")
    parser.add_argument("--queries", type=int, default=500, help="evaluate.max_queries")
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument("--run", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/evaluate_memory.json")
    args = parser.parse_args()
    run_factors(args, "evaluate", run_evaluate, lambda factor, work: measure_factor(args, factor, work))


if __name__ == "__main__":
    main()
