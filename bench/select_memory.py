"""The select stage's peak memory as its input grows (issue 14: no stage holds the whole dataset).

For each --factors k, score's output (--scored) is copied k times over, every copy with new
conversation, thread and content ids, in row groups of the stages' batch size. `select.run`
runs on it with the repository's params and no reviewer verdicts, in a fresh process: the
gates and the selected table, the decisions, the review set (the 1% sample plus every crisis
flag and safety drop, so it grows with the data) with its page and CSV, and the bias report.
Its peak RSS is that process's or its largest worker's (`resources.measure`). Ratios are to
the smallest factor, measured in the same run.

    python -m bench.select_memory [--scored data/interim/scored.parquet] [--factors 10 40 160]
writes bench/results/select_memory.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

from bench import command_line
from bench.memory import CONVERSATION_IDS, REPO, copies, run_factors, run_fresh
from pixelated.core import resources
from pixelated.core.config import load_config
from pixelated.selection.gates import VERDICT_COLUMNS
from pixelated.selection.select import SelectConfig, SelectPaths, run


def run_select(scored: Path, out: Path) -> dict:
    """The select stage on `scored`, in this process; its resources entry."""
    verdicts = out / "verdicts.csv"
    verdicts.write_text(",".join(VERDICT_COLUMNS) + "\n")
    paths = SelectPaths(
        scored,
        verdicts,
        out / "selected.parquet",
        out / "quarantine.parquet",
        out / "ledger.json",
        out / "review",
        out / "select.json",
    )
    run(load_config(SelectConfig, REPO / "params.yaml"), paths)
    return resources.measure(paths.ledger)


def grow(scored: Path, factor: int, work: Path, batch_size: int) -> Path:
    """The scored table copied `factor` times into `work`; its path."""
    grown = work / f"scored-{factor}.parquet"
    table = copies(pq.read_table(scored), factor, CONVERSATION_IDS)
    pq.write_table(table, grown, row_group_size=batch_size)
    return grown


def measure_factor(args, factor: int, work: Path) -> dict:
    """Grow the scored table `factor` times, select from it in a fresh process, return its entry."""
    batch_size = load_config(SelectConfig, REPO / "params.yaml").executor.batch_size
    scored = grow(args.scored, factor, work, batch_size)
    out = work / f"out-{factor}"
    out.mkdir()
    entry = run_fresh("bench.select_memory", [str(scored), str(out)], f"select of {factor}x")
    review = json.loads((out / "select.json").read_text())["review"]["conversations"]
    scored.unlink()
    return {key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "rows_in")} | {"review_set": review}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--scored", type=Path, default=REPO / "data/interim/scored.parquet")
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument("--run", type=Path, nargs=2, metavar=("SCORED", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/select_memory.json")
    args = parser.parse_args()
    run_factors(args, "select", run_select, lambda factor, work: measure_factor(args, factor, work))


if __name__ == "__main__":
    main()
