"""ingest: read every configured source in data/raw into the canonical conversation table.

Readers yield rows or rejections one at a time; a sample limit and the duplicate-id check
screen them in order, and the runner writes them in chunks of `executor.batch_size` rows,
so memory stays flat whatever the file size. Sources and files are read in sorted
order, so the output is byte-identical run to run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa_arrow

from pixelated.core.hashing import sha256_file
from pixelated.core.ledger import Ledger, Rejection
from pixelated.core.runner import BatchResult, Output, TablePaths, run_shards
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.shards import chunked
from pixelated.core.tableio import QuarantineWriter, from_records
from pixelated.ingest.config import IngestStageConfig, ReadOptions, SourceConfig, resolved_inside
from pixelated.ingest.readers import FileContext, get_reader
from pixelated.ingest.readers.base import Item

log = logging.getLogger(__name__)

WARN_LIMIT = 20  # rejections logged one by one at WARNING; the rest at DEBUG


def run(cfg: IngestStageConfig, paths: TablePaths) -> Ledger:
    """`paths.input` is data/raw (one folder per source); every item read is accounted for,
    and every record each reader framed is a row or a rejection (the ledger's `files`)."""
    files = FileCounts()
    items = screened(paths.input, cfg.sources, cfg.read_options, cfg.ingest.max_per_source, files)
    return run_shards(
        "ingest",
        to_batch,
        chunked(chunks(items, cfg.executor.batch_size), cfg.executor.shard_rows, size=count_row_items),
        outputs=Output(paths.output, CONVERSATION_SCHEMA, IngestedSchema),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        config=cfg,
        inputs=(),  # its shards, cut from a stream of records, are redone every run
        before_write=files.to_ledger,
    )


@dataclass
class FileCounts:
    """Per input file: records its reader framed, and the rows and rejections it yielded."""

    entries: dict[str, tuple[int, int, int, bool]] = field(default_factory=dict)

    def to_ledger(self, ledger: Ledger) -> None:
        for relpath, (seen, rows, quarantined, sampled) in self.entries.items():
            ledger.count_file(relpath, seen, rows, quarantined, sampled)


def source_files(raw_dir: Path, name: str, source: SourceConfig) -> list[Path]:
    """The files of one source to read, from its `read` globs; a glob matching nothing, or a
    file that resolves outside data/raw/<source>/ (a symlink), is a config error."""
    root = raw_dir / name
    resolved_inside(root, raw_dir, f"sources.{name}")
    paths = []
    for pattern in source.read:
        matched = sorted(root.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"source {name!r}: read pattern {pattern!r} matches nothing in {root}")
        for path in matched:
            resolved_inside(path, root, f"sources.{name}.read")
        paths.extend(matched)
    return paths


def read_source(
    raw_dir: Path, name: str, source: SourceConfig, options: ReadOptions, files: FileCounts | None = None
) -> Iterator[Item]:
    """Every row or rejection of one source. A reader that fails unexpectedly costs the rest
    of that file (one rejection saying so), never the run."""
    reader = get_reader(source.format)
    for path in source_files(raw_dir, name, source):
        relpath = path.relative_to(raw_dir).as_posix()
        ctx = FileContext.for_file(name, source, relpath, sha256_file(path) if path.is_file() else "0" * 64)
        counts, complete = Counter(), False
        try:
            for item in reader(path, source, options, ctx):
                yield item
                counts[isinstance(item, Rejection)] += 1  # after: an item a sample stops at is not read
            complete = True
        except Exception as err:  # one bad file must not stop the others
            # the error type only: an exception's message may quote the file's content
            log.error("reader %s failed on %s (%s)", source.format, ctx.relpath, type(err).__name__)
            ctx.records_seen, complete = ctx.records_seen + 1, True
            yield ctx.reject("reader_error", f"{type(err).__name__}; rest of file skipped", None)
            counts[True] += 1
        finally:  # also when a sample limit stops reading: the file is then marked sampled
            if files is not None:
                files.entries[relpath] = (ctx.records_seen, counts[False], counts[True], not complete)


def screened(
    raw_dir: Path,
    sources: Mapping[str, SourceConfig],
    options: ReadOptions,
    limit: int | None,
    files: FileCounts | None = None,
) -> Iterator[Item]:
    """Every source's items in name order; a record id read before becomes a rejection.

    With `limit` (a sample for quick runs and CI), a source is read only until it has given
    that many rows; what is not read is not counted.
    """
    seen: set[str] = set()
    rejected = 0
    for name, source in sorted(sources.items()):
        kept = 0
        for item in read_source(raw_dir, name, source, options, files):
            if limit is not None and kept >= limit:
                log.info("sample: stopped reading %s after %d conversations", name, limit)
                break
            if isinstance(item, dict) and item["conversation_id"] in seen:
                item = _duplicate(item)
            if isinstance(item, Rejection):
                rejected += 1
                log.log(
                    logging.WARNING if rejected <= WARN_LIMIT else logging.DEBUG,
                    "quarantined %s",
                    item.describe(),
                )
            else:
                seen.add(item["conversation_id"])
                kept += 1
            yield item


def _duplicate(row: dict) -> Rejection:
    return Rejection(
        reason="duplicate_record_id",
        detail="record id already read earlier in this source",
        source=row["source"],
        source_file=row["source_file"],
        source_line=row["source_line"],
        conversation_id=row["conversation_id"],
    )


def chunks(items: Iterable[Item], rows_per_chunk: int) -> Iterator[list[Item]]:
    """Items regrouped so each table is written in the same pieces, whatever the mix: rows in
    chunks of `rows_per_chunk` (one Parquet row group each), rejections in chunks the size of
    the quarantine writer's buffer. Rows and rejections go to different tables, so regrouping
    them changes neither table's order."""
    rows: list[Item] = []
    rejections: list[Item] = []
    for item in items:
        pending, size = (
            (rejections, QuarantineWriter.BUFFER) if isinstance(item, Rejection) else (rows, rows_per_chunk)
        )
        pending.append(item)
        if len(pending) == size:
            yield list(pending)
            pending.clear()
    if rows or rejections:
        yield rows + rejections


def count_row_items(items: list[Item]) -> int:
    """The rows in a chunk (its other items are rejections): what a shard's size counts."""
    return sum(isinstance(item, dict) for item in items)


def to_batch(items: list[Item]) -> BatchResult:
    """One chunk as the runner accounts it: every item's source, the rows, the rejections."""
    rows = [item for item in items if isinstance(item, dict)]
    rejections = [item for item in items if isinstance(item, Rejection)]
    try:
        kept = from_records(rows, CONVERSATION_SCHEMA)
    except (pa_arrow.ArrowException, ValueError, TypeError, OverflowError):
        kept, unstorable = _storable(rows)
        rejections += unstorable
    return BatchResult(
        inputs=pd.Series([item["source"] if isinstance(item, dict) else item.source for item in items]),
        kept=kept,
        rejections=rejections,
    )


def _storable(rows: list[dict]) -> tuple[pd.DataFrame, list[Rejection]]:
    """The rows Arrow can store, and a rejection for each it cannot (a value a reader let
    through untyped, such as a lone surrogate): a safety net, so one row never stops the run."""
    good, bad = [], []
    for row in rows:
        try:
            from_records([row], CONVERSATION_SCHEMA)
            good.append(row)
        except (pa_arrow.ArrowException, ValueError, TypeError, OverflowError) as err:
            bad.append(_unstorable(row, type(err).__name__))
    return from_records(good, CONVERSATION_SCHEMA), bad


def _unstorable(row: dict, error: str) -> Rejection:
    return Rejection(
        reason="unstorable_value",
        detail=f"a value cannot be stored in the canonical table ({error})",
        source=row["source"],
        source_file=row["source_file"],
        source_line=row["source_line"],
    )
