"""What the memory benchmarks share: inputs grown by copies with new ids, a stage run in a
fresh process (so each peak RSS is its own), and ratios to the smallest size of the same run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from argparse import Namespace
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
CONVERSATION_IDS = ("conversation_id", "thread_id", "content_hash")  # a conversation, its thread, its content


def copies(
    table: pa.Table,
    factor: int,
    id_columns: Iterable[str],
    change: Callable[[pa.Table, int], pa.Table] = lambda copy, k: copy,
) -> pa.Table:
    """`factor` copies of `table` whose `id_columns` are new in each copy: new conversations,
    threads and dedup groups, that link to nothing in another copy. `change(copy, k)` may
    alter copy k further."""
    grown = []
    for k in range(factor):
        copy = change(table, k)
        for name in id_columns:
            column = copy.schema.get_field_index(name)
            copy = copy.set_column(column, name, _renamed(copy.column(column), k))
        grown.append(copy)
    return pa.concat_tables(grown)


def _renamed(ids: pa.ChunkedArray, copy: int) -> pa.Array:
    """Each distinct id of copy `copy` as 16 hex digits (the form the schemas check), equal ids
    alike; nulls stay null."""
    codes = ids.combine_chunks().dictionary_encode()
    names = [
        hashlib.blake2b(f"{copy}:{v}".encode(), digest_size=8).hexdigest()
        for v in codes.dictionary.to_pylist()
    ]
    return pc.take(pa.array(names, pa.string()), codes.indices)


def run_fresh(module: str, args: list[str], what: str) -> dict:
    """`python -m <module> --run <args>` in a fresh process; the JSON of its last output line."""
    command = [sys.executable, "-m", module, "--run", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def with_ratios(rows: dict[int, dict]) -> dict[str, dict]:
    """Rows keyed by data size (conversations, or copies), with peak RSS, time and data as
    ratios to the smallest size; keys as strings, for JSON."""
    smallest = rows[min(rows)]
    for size, row in rows.items():
        row["rss_ratio_to_smallest"] = round(row["peak_rss_mb"] / smallest["peak_rss_mb"], 3)
        row["time_ratio_to_smallest"] = round(row["wall_s"] / smallest["wall_s"], 3)
        row["data_ratio_to_smallest"] = round(size / min(rows), 3)
    return {str(size): row for size, row in rows.items()}


def write_result(output: Path, result: dict) -> None:
    """The benchmark's JSON under bench/results/, and on stdout."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def run_factors(
    args: Namespace, name: str, run: Callable[..., dict], measure: Callable[[int, Path], dict]
) -> None:
    """A copies benchmark's main: with `--run`, the stage in this process (the child `run_fresh`
    starts), its resources entry printed; else `measure(factor, work)` for each --factors, with
    ratios to the smallest, written to --output."""
    if args.run:
        print(json.dumps(run(*args.run)))
        return
    with tempfile.TemporaryDirectory(prefix=f"{name}-memory-") as work:
        rows = {factor: measure(factor, Path(work)) for factor in sorted(args.factors)}
    write_result(args.output, {"cpus": os.cpu_count(), "factors": with_ratios(rows)})
