"""The export stage's peak memory as its splits grow (issue 14: no stage holds the whole dataset).

For each --factors k, the splits in --splits are copied k times over, every copy with new
conversation ids, in row groups of the stages' batch size. `export_all` runs on them with the
repository's export config (every format) in a fresh process; the peak RSS is that process's
(`resources.measure`). Ratios are to the smallest factor, measured in the same run.

    python -m bench.export_memory [--splits data/splits] [--factors 10 40]
writes bench/results/export_memory.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from bench import command_line
from bench.memory import REPO, copies, run_factors, run_fresh
from pixelated.core import resources
from pixelated.core.config import load_config, read_params
from pixelated.core.schema import SPLITS
from pixelated.export.export import ExportStageConfig, export_all


def grow_splits(source: Path, target: Path, factor: int, batch_size: int) -> dict[str, Path]:
    """Each split of `source` copied `factor` times into `target`, every copy with new ids."""
    target.mkdir(parents=True, exist_ok=True)
    grown = {}
    for name in SPLITS:
        grown[name] = target / f"{name}.parquet"
        table = copies(pq.read_table(source / f"{name}.parquet"), factor, ["conversation_id"])
        pq.write_table(table, grown[name], row_group_size=batch_size)
    return grown


def run_export(splits: Path, out: Path) -> dict:
    """The export stage's work on the splits in `splits`, in this process; what it measured."""
    cfg = load_config(ExportStageConfig, REPO / "params.yaml").export
    stats = export_all({name: splits / f"{name}.parquet" for name in SPLITS}, out, cfg)
    return resources.measure() | {"rows": sum(stats["rows"].values())}


def measure_factor(source: Path, factor: int, work: Path) -> dict:
    """Grow the splits `factor` times, export them in a fresh process, return its entry."""
    splits, out = work / f"splits-{factor}", work / f"export-{factor}"
    batch_size = read_params(REPO / "params.yaml")["executor"]["batch_size"]
    grow_splits(source, splits, factor, batch_size)
    entry = run_fresh("bench.export_memory", [str(splits), str(out)], f"export of {factor}x the splits")
    return {key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "rows")}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--splits", type=Path, default=REPO / "data/splits")
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--run", type=Path, nargs=2, metavar=("SPLITS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/export_memory.json")
    args = parser.parse_args()
    run_factors(args, "export", run_export, lambda factor, work: measure_factor(args.splits, factor, work))


if __name__ == "__main__":
    main()
