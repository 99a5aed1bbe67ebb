"""The split stage's peak memory as its input grows (issue 14: no stage holds the whole dataset).

For each --factors k, select's output (--selected) and dedup's cluster table (--clusters) are
copied k times over, every copy with new conversation, thread, content and dedup-group ids, in
row groups of the stages' batch size. Every word of copy k ends in its own mark, so copies
share no shingle: selected conversations were deduplicated, and copies that stayed near
duplicates of each other would make the leakage check's candidate pairs grow with k squared.
`split.run` runs on them with the repository's params in a fresh process: the plan, the
assignments, routing every row to its split, and the leakage checks. Its peak RSS is that
process's or its largest worker's (`resources.measure`). Ratios are to the smallest factor,
measured in the same run.

    python -m bench.split_memory [--selected data/interim/selected.parquet] [--factors 10 40 160]
writes bench/results/split_memory.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench import command_line
from bench.memory import CONVERSATION_IDS, REPO, copies, run_factors, run_fresh
from pixelated.core import resources
from pixelated.core.config import load_config
from pixelated.selection import split

# what names a conversation or its dedup group in the cluster table
CLUSTER_IDS = ("conversation_id", "cluster_id", "group_id", "kept_id")


def grow(selected: Path, clusters: Path, factor: int, work: Path, batch_size: int) -> tuple[Path, Path]:
    """Both tables copied `factor` times into `work`; their paths."""
    grown = work / f"selected-{factor}.parquet", work / f"clusters-{factor}.parquet"
    tables = (
        copies(pq.read_table(selected), factor, CONVERSATION_IDS, marked),
        copies(pq.read_table(clusters), factor, CLUSTER_IDS),
    )
    for table, target in zip(tables, grown, strict=True):
        pq.write_table(table, target, row_group_size=batch_size)
    return grown


def marked(copy: pa.Table, k: int) -> pa.Table:
    """`copy` with every word of its turns' texts ending in `_k`."""
    turns = copy.column("turns").combine_chunks()
    units = turns.values
    fields = [units.field(i) for i in range(units.type.num_fields)]
    text = units.type.get_field_index("text")
    fields[text] = pc.replace_substring_regex(fields[text], r"(\w+)", rf"\1_{k}")
    units = pa.StructArray.from_arrays(fields, fields=list(units.type))
    return copy.set_column(
        copy.schema.get_field_index("turns"), "turns", pa.ListArray.from_arrays(turns.offsets, units)
    )


def run_split(selected: Path, clusters: Path, out: Path) -> dict:
    """The split stage on the two tables, in this process; its resources entry."""
    cfg = load_config(split.SplitStageConfig, REPO / "params.yaml")
    paths = split.SplitPaths(selected, out / "splits", clusters, out / "ledger.json", out / "split.json")
    split.run(cfg, paths)
    return resources.measure(paths.ledger)


def measure_factor(args, factor: int, work: Path) -> dict:
    """Grow the inputs `factor` times, split them in a fresh process, return its entry."""
    batch_size = load_config(split.SplitStageConfig, REPO / "params.yaml").executor.batch_size
    selected, clusters = grow(args.selected, args.clusters, factor, work, batch_size)
    out = work / f"out-{factor}"
    out.mkdir()
    entry = run_fresh("bench.split_memory", [str(selected), str(clusters), str(out)], f"split of {factor}x")
    selected.unlink()
    return {key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "rows_in")}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--selected", type=Path, default=REPO / "data/interim/selected.parquet")
    parser.add_argument("--clusters", type=Path, default=REPO / "data/interim/dedup_clusters.parquet")
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument(
        "--run", type=Path, nargs=3, metavar=("SELECTED", "CLUSTERS", "OUT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/split_memory.json")
    args = parser.parse_args()
    run_factors(args, "split", run_split, lambda factor, work: measure_factor(args, factor, work))


if __name__ == "__main__":
    main()
