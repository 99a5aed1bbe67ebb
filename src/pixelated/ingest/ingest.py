"""ingest: read every configured source in data/raw into the canonical conversation table.

Readers yield rows or rejections one at a time; a sample limit and the duplicate-id check
screen them in order, and the runner writes them in chunks of `executor.batch_size` rows,
so memory stays flat whatever the file size. Sources and files are read in sorted
order, so the output is byte-identical run to run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pandas as pd

from pixelated.core.hashing import sha256_file
from pixelated.core.ledger import Ledger, Rejection
from pixelated.core.runner import BatchResult, Output, TablePaths, run_batches
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import QuarantineWriter, from_records
from pixelated.ingest.config import IngestStageConfig, ReadOptions, SourceConfig
from pixelated.ingest.readers import FileContext, get_reader
from pixelated.ingest.readers.base import Item

log = logging.getLogger(__name__)

WARN_LIMIT = 20  # rejections logged one by one at WARNING; the rest at DEBUG


def run(cfg: IngestStageConfig, paths: TablePaths) -> Ledger:
    """`paths.input` is data/raw (one folder per source); every item read is accounted for."""
    items = screened(paths.input, cfg.sources, cfg.read_options, cfg.ingest.max_per_source)
    return run_batches(
        "ingest",
        to_batch,
        chunks(items, cfg.executor.batch_size),
        outputs=Output(paths.output, CONVERSATION_SCHEMA, IngestedSchema),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        executor=cfg.executor,
    )


def source_files(raw_dir: Path, name: str, source: SourceConfig) -> list[Path]:
    """The files of one source to read, from its `read` globs; a glob matching nothing is a config error."""
    root = raw_dir / name
    paths = []
    for pattern in source.read:
        matched = sorted(root.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"source {name!r}: read pattern {pattern!r} matches nothing in {root}")
        paths.extend(matched)
    return paths


def read_source(raw_dir: Path, name: str, source: SourceConfig, options: ReadOptions) -> Iterator[Item]:
    """Every row or rejection of one source. A reader that fails unexpectedly costs the rest
    of that file (one rejection saying so), never the run."""
    reader = get_reader(source.format)
    for path in source_files(raw_dir, name, source):
        relpath = path.relative_to(raw_dir).as_posix()
        ctx = FileContext.for_file(name, source, relpath, sha256_file(path) if path.is_file() else "0" * 64)
        try:
            yield from reader(path, source, options, ctx)
        except Exception as err:  # one bad file must not stop the others
            log.exception("reader %s failed on %s", source.format, ctx.relpath)
            yield ctx.reject("reader_error", f"{type(err).__name__}: {err}; rest of file skipped", None)


def screened(
    raw_dir: Path, sources: Mapping[str, SourceConfig], options: ReadOptions, limit: int | None
) -> Iterator[Item]:
    """Every source's items in name order; a record id read before becomes a rejection.

    With `limit` (a sample for quick runs and CI), a source is read only until it has given
    that many rows; what is not read is not counted.
    """
    seen: set[str] = set()
    rejected = 0
    for name, source in sorted(sources.items()):
        kept = 0
        for item in read_source(raw_dir, name, source, options):
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
        detail=f"record id {row['source_record_id']!r} already read",
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


def to_batch(items: list[Item]) -> BatchResult:
    """One chunk as the runner accounts it: every item's source, the rows, the rejections."""
    rows = [item for item in items if isinstance(item, dict)]
    return BatchResult(
        inputs=pd.Series([item["source"] if isinstance(item, dict) else item.source for item in items]),
        kept=from_records(rows, CONVERSATION_SCHEMA),
        rejections=[item for item in items if isinstance(item, Rejection)],
    )
