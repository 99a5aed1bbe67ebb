"""What every stage shares: its arguments and the one batch loop (with its progress bar).

A stage's logic is a function of one batch that returns a `BatchResult`: the input rows'
sources, the rows kept (or routed to named outputs) and a rejection per dropped row. The
runner owns everything else, as datatrove's `BaseFilter.run` does: the executor, the ledger
(checked before it is written), the quarantine table and the pandera check of every output.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from pixelated.core import resources
from pixelated.core.config import ExecutorConfig
from pixelated.core.executor import map_with
from pixelated.core.ledger import Ledger, LedgerError, Rejection
from pixelated.core.process import stage_name, start_stage
from pixelated.core.progress import Progress
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter, count_rows, read_batches

P = TypeVar("P")
KEPT = "kept"  # the output name of a stage with a single table out


def stage_args(description: str, paths: type[P]) -> tuple[P, Path]:
    """Parse `--<field>` for every field of the `paths` dataclass (a field with
    `metadata={"nargs": "+"}` takes several paths, in order), plus `--params`, then start the
    stage process (`process.start_stage`: parent-death signal, private umask, output lock) and
    have its resource use recorded when it ends well (`resources.record_at_exit`)."""
    parser = argparse.ArgumentParser(description=description)
    for item in dataclasses.fields(paths):
        flag = f"--{item.name.replace('_', '-')}"
        parser.add_argument(flag, dest=item.name, required=True, type=Path, nargs=item.metadata.get("nargs"))
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = vars(parser.parse_args())
    params = args.pop("params")
    name = stage_name()
    start_stage(name, [p for v in args.values() for p in (v if isinstance(v, list) else [v])])
    ledger = args.get("ledger")  # the stage's own; report's `--ledger` lists every stage's
    resources.record_at_exit(name, ledger if isinstance(ledger, Path) else None)
    return paths(**args), params


@dataclass(frozen=True)
class TablePaths:
    """A stage that reads one table and writes one, with its quarantine and ledger."""

    input: Path
    output: Path
    quarantine: Path
    ledger: Path


@dataclass(frozen=True)
class Output:
    """One table a stage writes: where, its Arrow storage schema and its pandera check."""

    path: Path
    arrow_schema: pa_arrow.Schema
    check: pa.DataFrameSchema


@dataclass
class BatchResult:
    """What one batch hands back: every input row is kept (in some output) or rejected."""

    inputs: pd.Series  # the source of every input row, for the ledger's rows_in
    kept: pd.DataFrame | dict[str, pd.DataFrame]  # one frame, or frames by output name
    rejections: list[Rejection] = field(default_factory=list)
    stats: Any = None  # stage-specific side results (counts, cache entries), for `on_result`


def run_batches(
    stage: str,
    fn: Callable[[P], BatchResult],
    payloads: Iterable[P],
    *,
    outputs: Output | Mapping[str, Output],
    quarantine: Path | None,
    ledger: Path,
    executor: ExecutorConfig,
    total: int | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    before_write: Callable[[Ledger], None] | None = None,
) -> Ledger:
    """Map `fn` over `payloads` with the executor and account every row.

    `total` (input rows) drives the progress bar (rate, ETA, a log line per batch); `on_result`
    sees each result in input order, in this process, for side results such as counters or
    cache entries; `before_write` adds a stage's own counts to the ledger before it is checked
    and written. A stage that only routes rows (split) passes `quarantine=None`, and then any
    rejection is an error.
    """
    outputs = {KEPT: outputs} if isinstance(outputs, Output) else dict(outputs)
    counts = Ledger(stage)
    results = map_with(fn, payloads, executor)
    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(ValidatedWriter(out.path, out.arrow_schema, out.check))
            for name, out in outputs.items()
        }
        rejected = stack.enter_context(QuarantineWriter(quarantine, stage)) if quarantine else None
        bar = stack.enter_context(Progress(stage, total, unit="conv"))
        for result in results:
            kept = result.kept if isinstance(result.kept, dict) else {KEPT: result.kept}
            for source, n in result.inputs.value_counts(sort=False).items():
                counts.count_in(int(n), source)
            for name, frame in kept.items():
                writers[name].write(frame)
                counts.count_frame_out(frame)
            for rejection in result.rejections:
                counts.count_drop(rejection.reason, source=rejection.source)
            if result.rejections:
                if rejected is None:
                    raise LedgerError(f"{stage} drops no rows: {result.rejections[0].describe()}")
                rejected.add(result.rejections)
            if on_result is not None:
                on_result(result)
            bar.update(len(result.inputs))
    if before_write is not None:
        before_write(counts)
    counts.write(ledger)
    return counts


BatchFilter = Callable[[pd.DataFrame], tuple[pd.DataFrame, list[Rejection]]]


def filter_table(
    stage: str,
    batch_filter: BatchFilter,
    paths: TablePaths,
    *,
    schema: pa_arrow.Schema,
    check: pa.DataFrameSchema,
    executor: ExecutorConfig,
) -> Ledger:
    """The common case: stream `paths.input` through a filter into `paths.output`."""
    return run_batches(
        stage,
        partial(_filtered, batch_filter),
        read_batches(paths.input, executor.batch_size),
        outputs=Output(paths.output, schema, check),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        executor=executor,
        total=count_rows(paths.input),
    )


def _filtered(batch_filter: BatchFilter, batch: pd.DataFrame) -> BatchResult:
    kept, rejections = batch_filter(batch)
    return BatchResult(batch["source"], kept, rejections)
