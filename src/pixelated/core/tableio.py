"""Streaming Parquet in and out, with a pandera check on every batch before it is written.

Stages never hold a whole table: they read record batches, work on them, and append to a
writer. Output is byte-deterministic for the same input (no timestamps, fixed schema,
rows in input order), so `dvc.lock` changes only when content does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from pixelated.core import atomic
from pixelated.core.ledger import Rejection
from pixelated.core.schema import QUARANTINE_SCHEMA, QuarantineSchema
from pixelated.core.shards import parts

log = logging.getLogger(__name__)

_PANDAS_TYPES = {
    pa_arrow.string(): pd.StringDtype(),
    pa_arrow.int64(): pd.Int64Dtype(),
    pa_arrow.int32(): pd.Int32Dtype(),
}


def to_pandas(table: pa_arrow.Table | pa_arrow.RecordBatch) -> pd.DataFrame:
    """Arrow to pandas with nullable dtypes, the types the pandera schemas expect."""
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


def from_records(records: list[dict], schema: pa_arrow.Schema) -> pd.DataFrame:
    """Python dict rows to a pandas frame typed exactly as `schema` would store them."""
    return to_pandas(pa_arrow.Table.from_pylist(records, schema=schema))


def parquet_file(path: str | Path) -> pq.ParquetFile:
    """A Parquet reader that holds one row group at a time. With pyarrow's default
    pre-buffering the reader kept what it had read: iterating a file grew its memory to the
    file's size (320 MB of Arrow memory over an 800k-conversation file; flat without)."""
    return pq.ParquetFile(path, pre_buffer=False)


def read_batches(
    path: str | Path, batch_size: int, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the table at `path` (a Parquet file, or a sharded table's parts in order) as
    pandas frames of at most `batch_size` rows (of `columns`, default all)."""
    for part in parts(path):
        for batch in parquet_file(part).iter_batches(batch_size=batch_size, columns=columns):
            yield to_pandas(batch)


def rechunked(reader: pa_arrow.RecordBatchReader, rows: int) -> Iterator[pa_arrow.Table]:
    """The reader's rows as tables of exactly `rows` (the last one shorter, and one empty
    table when there are none), whatever the sizes of its batches: the row groups a writer
    makes of them, and so its bytes, then depend on `rows` alone."""
    pending: list[pa_arrow.RecordBatch] = []
    count, yielded = 0, False
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa_arrow.Table.from_batches(pending, reader.schema)
            yield table.slice(0, rows)
            pending, count, yielded = table.slice(rows).to_batches(), count - rows, True
    if count or not yielded:
        yield pa_arrow.Table.from_batches(pending, reader.schema)


class RowCursor:
    """Consecutive rows of a Parquet file from row `first` on, taken a few at a time: a second
    table read in step with a first one in the same row order, each row group read once."""

    def __init__(self, path: str | Path, first: int, columns: list[str]):
        file = parquet_file(path)
        sizes = [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
        group, skip = 0, first
        while group < len(sizes) and skip >= sizes[group]:
            group, skip = group + 1, skip - sizes[group]
        self._batches = file.iter_batches(row_groups=range(group, len(sizes)), columns=columns)
        self._pending = file.schema_arrow.empty_table().select(columns)
        self._skip = skip

    def take(self, rows: int) -> pd.DataFrame:
        """The next `rows` rows; fewer only where the file ends."""
        while self._pending.num_rows < self._skip + rows:
            batch = next(self._batches, None)
            if batch is None:
                break
            self._pending = pa_arrow.concat_tables([self._pending, pa_arrow.Table.from_batches([batch])])
        taken = self._pending.slice(self._skip, rows)
        self._pending, self._skip = self._pending.slice(self._skip + rows), 0
        return to_pandas(taken)


def read_cache_table(path: Path, schema: pa_arrow.Schema, owned: bool = True) -> pa_arrow.Table | None:
    """A persistent cache table, or None when it is absent or unreadable (see `forgiven_cache`)."""
    if path.exists():
        with forgiven_cache(path, owned):
            return pq.read_table(path, schema=schema)
    return None


@contextmanager
def forgiven_cache(path: Path, owned: bool) -> Iterator[None]:
    """Reading a persistent cache inside this block: an error ends the block, not the stage.

    A cache only saves work, so a truncated or corrupt one must not block its stage: it is
    logged (path and error type, never content), and when this stage `owned` it, deleted so
    the stage rebuilds it as from empty (the last committed copy stays in the DVC cache).
    """
    try:
        yield
    except (OSError, ValueError, TypeError, pa_arrow.ArrowException) as err:
        action = "deleted; it is rebuilt" if owned else "ignored"
        log.warning("cache %s is unreadable (%s): %s", path, type(err).__name__, action)
        if owned:
            path.unlink(missing_ok=True)


def count_rows(path: str | Path) -> int:
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts(path))


class ValidatedWriter:
    """Append pandas batches to one Parquet file, validating each with a pandera schema.

    The file always exists after `close()`, with the schema even when no rows were written,
    so downstream stages never special-case an empty input. Rows go to a temporary file that
    `close()` renames into place; `abort()` (or leaving a `with` block by an exception) deletes
    it, so a failed or killed stage never leaves a half-written table under the real name.
    """

    def __init__(self, path: str | Path, schema: pa_arrow.Schema, check: pa.DataFrameSchema):
        self.path, self._tmp = atomic.prepare(path)
        self.schema = schema
        self.check = check
        self.rows = 0
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.check.validate(frame, lazy=True)
        table = pa_arrow.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        self._writer.write_table(table)
        self.rows += len(frame)

    def write_records(self, records: list[dict]) -> None:
        if records:
            self.write(from_records(records, self.schema))

    def close(self) -> None:
        """Finish the file and move it to its real name."""
        self._writer.close()
        atomic.commit(self._tmp, self.path)

    def abort(self) -> None:
        """Drop everything written: the real name keeps what it held before, if anything."""
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ValidatedWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


class QuarantineWriter(ValidatedWriter):
    """The rows a stage refused, with the reason; one file per stage under data/quarantine.

    Rejections arrive one at a time from readers, so they are buffered into batches.
    """

    BUFFER = 1000

    def __init__(self, path: str | Path, stage: str):
        super().__init__(path, QUARANTINE_SCHEMA, QuarantineSchema)
        self.stage = stage
        self._buffer: list[dict] = []

    def add(self, rejections: Iterable[Rejection]) -> None:
        self._buffer.extend(r.as_row(self.stage) for r in rejections)
        if len(self._buffer) >= self.BUFFER:
            self._flush()

    def _flush(self) -> None:
        self.write_records(self._buffer)
        self._buffer = []

    def close(self) -> None:
        self._flush()
        super().close()
