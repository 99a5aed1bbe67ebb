"""What every stage shares: its arguments and the one batch loop (with its progress bar).

A stage's logic is a function of one batch that returns a `BatchResult`: the input rows'
sources, the rows kept (or routed to named outputs) and a rejection per dropped row. The
runner owns everything else, as datatrove's `BaseFilter.run` does: the executor, the ledger
(checked before it is written), the quarantine table and the pandera check of every output.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from pixelated.core import resources
from pixelated.core import shards as shards_io
from pixelated.core.config import ExecutorConfig
from pixelated.core.executor import mapping
from pixelated.core.ledger import Ledger, LedgerError, Rejection
from pixelated.core.process import stage_name, start_stage
from pixelated.core.progress import Progress
from pixelated.core.shards import Shard
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter, count_rows, read_batches

log = logging.getLogger(__name__)
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
) -> Ledger:
    """Map `fn` over `payloads` with the executor into single-file outputs, accounting every
    row (split's, whose outputs are the split files).

    `total` (input rows) drives the progress bar (rate, ETA, a log line per batch); `on_result`
    sees each result in input order, in this process, for side results such as counters. A
    stage that only routes rows passes `quarantine=None`, and then any rejection is an error.
    """
    outputs = _named(outputs)
    with Progress(stage, total, unit="conv") as bar, mapping(fn, executor) as mapped:
        counts = _write(stage, mapped(payloads), outputs, quarantine, bar, on_result)
    counts.write(ledger)
    return counts


class StageConfig(Protocol):
    """A stage's config (a pydantic model): how its batches are mapped, and what its shards'
    done markers fingerprint."""

    executor: ExecutorConfig

    def model_dump_json(self) -> str: ...


class ShardStats(Protocol):
    """A stage's side counts per shard (anonymize's entity totals), kept in the shard's marker
    so that a rerun which skips the shard still reports them."""

    def take(self) -> dict:
        """The counts of the shard just written, as JSON; they start again from zero."""

    def replay(self, counts: dict, shard: Shard) -> None:
        """Add a skipped shard's counts (`shard` can still be read, for what is not counted)."""


def run_shards(
    stage: str,
    fn: Callable[[P], BatchResult],
    shards: Iterable[Shard],
    *,
    outputs: Output | Mapping[str, Output],
    quarantine: Path | None,
    ledger: Path | None,
    config: StageConfig,
    inputs: Sequence[Path],
    total: int | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    before_write: Callable[[Ledger], None] | None = None,
    stats: ShardStats | None = None,
) -> Ledger:
    """`run_batches` into sharded outputs (`pixelated.core.shards`), with `config.executor`:
    part k of every output and of the quarantine from shard k, then its marker with the
    part's ledger. A shard whose
    marker matches this run (the same files of every path in `inputs`, the same config and
    code) is not redone: a stage killed mid-run redoes only unfinished shards, and its ledger
    is still exact.

    `before_write` adds a stage's own counts (ingest's per-file counts) to the ledger before
    it is checked and written; a stage without a ledger file (score) passes `ledger=None`."""
    outputs = _named(outputs)
    folders = [out.path for out in outputs.values()] + ([quarantine] if quarantine else [])
    for folder in folders:
        shards_io.prepare_folder(folder)
    markers, key = folders[0], shards_io.run_key(stage, config, inputs)
    counts, done = Ledger(stage), 0
    with Progress(stage, total, unit="conv") as bar, mapping(fn, config.executor) as mapped:
        for shard in shards:
            done += 1
            marker = shards_io.read_marker(markers, shard, key, folders)
            if marker is None:
                part = _outputs_of(outputs, shard.index)
                rejected = shards_io.part_path(quarantine, shard.index) if quarantine else None
                shard_counts = _write(stage, mapped(shard.payloads), part, rejected, bar, on_result)
                marker = {"ledger": shard_counts.as_dict(), "stats": stats.take() if stats else {}}
                shards_io.write_marker(markers, shard, key, folders, **marker)
                log.info("%s: shard %d written (%d rows in)", stage, shard.index, shard_counts.rows_in)
            else:
                log.info("%s: shard %d was done by an earlier run: kept", stage, shard.index)
                bar.update(marker["ledger"]["rows_in"])
                if stats:
                    stats.replay(marker["stats"], shard)
            counts.add(marker["ledger"])
    for folder in folders:
        shards_io.remove_beyond(folder, done)
    if before_write is not None:
        before_write(counts)
    counts.check()
    if ledger is not None:
        counts.write(ledger)
    return counts


def _named(outputs: Output | Mapping[str, Output]) -> dict[str, Output]:
    return {KEPT: outputs} if isinstance(outputs, Output) else dict(outputs)


def _outputs_of(outputs: dict[str, Output], index: int) -> dict[str, Output]:
    """Each output's part `index`."""
    return {
        name: dataclasses.replace(out, path=shards_io.part_path(out.path, index))
        for name, out in outputs.items()
    }


def _write(
    stage: str,
    results: Iterable[BatchResult],
    outputs: dict[str, Output],
    quarantine: Path | None,
    bar: Progress,
    on_result: Callable[[BatchResult], None] | None,
) -> Ledger:
    """Write each result's rows to their outputs (pandera-checked) and its rejections to the
    quarantine, counting every row; the files appear only if all of it succeeds."""
    counts = Ledger(stage)
    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(ValidatedWriter(out.path, out.arrow_schema, out.check))
            for name, out in outputs.items()
        }
        rejected = stack.enter_context(QuarantineWriter(quarantine, stage)) if quarantine else None
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
    return counts


BatchFilter = Callable[[pd.DataFrame], tuple[pd.DataFrame, list[Rejection]]]


def filter_table(
    stage: str,
    batch_filter: BatchFilter,
    paths: TablePaths,
    *,
    schema: pa_arrow.Schema,
    check: pa.DataFrameSchema,
    config: StageConfig,
    inputs: Sequence[Path] = (),
) -> Ledger:
    """The common case: stream the sharded table `paths.input` through a filter into
    `paths.output`, shard by shard; `inputs` are other files the filter reads."""
    return run_shards(
        stage,
        partial(_filtered, batch_filter),
        table_shards(paths.input, config.executor.batch_size),
        outputs=Output(paths.output, schema, check),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        config=config,
        inputs=[paths.input, *inputs],
        total=count_rows(paths.input),
    )


def table_shards(path: Path, batch_size: int) -> Iterator[Shard]:
    """A sharded table's parts as shards of `batch_size`-row frames."""
    return shards_io.input_shards(path, partial(read_batches, batch_size=batch_size))


def _filtered(batch_filter: BatchFilter, batch: pd.DataFrame) -> BatchResult:
    kept, rejections = batch_filter(batch)
    return BatchResult(batch["source"], kept, rejections)
