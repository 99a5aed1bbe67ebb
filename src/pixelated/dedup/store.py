"""Dedup features held on disk: only numeric keys stay in memory, about 40 bytes a conversation.

A conversation's shingle hashes, MinHash signature, ids, embedding texts and helper-turn keys
take about 3 KB of memory; held for every conversation, they made dedup's peak memory grow
with its input. `spill` writes them to a temporary folder a batch at a time, and the
cascade reads back bounded chunks: signature rows and hash sets through a memory map opened
per read (the pages a read touched leave the process with it), texts and helper keys from
Parquet, a row group (one input batch) at a time. Ids and sources are read by DuckDB
(`dedup.clusters`), never into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pixelated.core.hashing import text_hash
from pixelated.core.tableio import parquet_file
from pixelated.dedup.minhash import HashSets

KEYS = ("conversation_id", "source", "thread_id", "exact_key", "seeker_key", "length", "rating")
SIDES = ("seeker_text", "helper_text")
COLUMNS = pa.schema(
    [pa.field(name, pa.string()) for name in KEYS[:5]]
    + [pa.field("length", pa.int64()), pa.field("rating", pa.float64())]
    + [pa.field(name, pa.string()) for name in SIDES]
    + [pa.field("helper_keys", pa.list_(pa.string())), pa.field("helper_words", pa.list_(pa.int64()))]
)
SIGNATURES, HASHES, TABLE = "signatures.u32", "hashes.u32", "features.parquet"
CHUNK_ROWS = 65_536  # signature rows per read: 32 MB at num_perm=128


class Features:
    """Per-conversation dedup features: numeric `keys` (`held_keys`) in memory, the rest in a spill
    folder that closing (or garbage collection) removes. Built by `spill`."""

    def __init__(self, keys: pd.DataFrame, hash_sets: HashSets, num_perm: int, folder: TemporaryDirectory):
        self.keys, self.hash_sets, self.num_perm = keys, hash_sets, num_perm
        self._folder, self.path = folder, Path(folder.name)

    def __len__(self) -> int:
        return len(self.keys)

    def __enter__(self) -> Features:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._folder.cleanup()

    @property
    def table(self) -> Path:
        """Parquet of the COLUMNS schema, a row group per input batch (for the report's SQL)."""
        return self.path / TABLE

    def signatures(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        """The MinHash signatures of `rows`, in order, CHUNK_ROWS at a time."""
        for start in range(0, len(rows), CHUNK_ROWS):
            table = np.memmap(self.path / SIGNATURES, np.uint32, "r", shape=(len(self), self.num_perm))
            yield np.array(table[rows[start : start + CHUNK_ROWS]])

    def side_texts(self, rows: np.ndarray | None = None) -> Iterator[tuple[list[str], list[str]]]:
        """(seeker texts, helper texts) of ascending `rows` (default all), a row group at a time."""
        spilled = parquet_file(self.table)
        first = 0
        for group in range(spilled.num_row_groups):
            last = first + spilled.metadata.row_group(group).num_rows
            if rows is None:
                wanted = np.arange(last - first)
            else:
                wanted = rows[np.searchsorted(rows, first) : np.searchsorted(rows, last)] - first
            if len(wanted):
                sides = spilled.read_row_group(group, columns=list(SIDES))
                seeker, helper = (sides.column(side).to_numpy(zero_copy_only=False)[wanted] for side in SIDES)
                yield seeker.tolist(), helper.tolist()
            first = last

    def all_side_texts(self) -> Iterator[str]:
        """Every seeker and helper text: what the embedding cache keeps (`EmbeddingCache.save`)."""
        for seeker, helper in self.side_texts():
            yield from seeker
            yield from helper


def spill(frames: Iterable[pd.DataFrame], parent: Path | None = None) -> Features:
    """`conversation_features` frames, in order, as `Features` spilled under `parent` (the
    system's temporary folder by default: set TMPDIR for inputs larger than it)."""
    folder = TemporaryDirectory(prefix="dedup-features-", dir=parent)
    path = Path(folder.name)
    num_perm, held = 0, []
    with (
        open(path / SIGNATURES, "wb") as signatures,
        open(path / HASHES, "wb") as hashes,
        pq.ParquetWriter(path / TABLE, COLUMNS) as table,
    ):
        for frame in frames:
            if frame.empty:
                continue
            np.concatenate(list(frame["hashes"])).astype(np.uint32).tofile(hashes)
            signature = np.stack(list(frame["signature"])).astype(np.uint32)
            num_perm = signature.shape[1]
            signature.tofile(signatures)
            columns = pa.Table.from_pandas(frame[COLUMNS.names], schema=COLUMNS, preserve_index=False)
            table.write_table(columns)
            held.append(held_keys(frame))
    keys = pd.concat(held, ignore_index=True) if held else held_keys(pd.DataFrame(columns=[*KEYS, "hashes"]))
    size = keys.pop("hash_count").to_numpy()
    return Features(keys, HashSets(np.cumsum(size) - size, size, path / HASHES), num_perm, folder)


def held_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The keys the cascade reads for every conversation, as numbers: the exact and seeker
    keys' own 64 bits (hex strings of xxh3_64) and a 64-bit hash of the thread id, where set;
    strings would take four times the memory."""
    return pd.DataFrame(
        {
            "exact": np.array([_hex_number(key) for key in frame["exact_key"]], np.uint64),
            "seeker": _nullable(frame["seeker_key"], _hex_number),
            "thread": _nullable(frame["thread_id"], text_hash),
            "length": frame["length"].to_numpy(np.int64),
            "rating": frame["rating"].to_numpy(np.float64),
            "hash_count": frame["hashes"].map(len).to_numpy(np.int64),
        }
    )


def _nullable(values: pd.Series, to_int: Callable[[str], int]) -> pd.api.extensions.ExtensionArray:
    return pd.array([None if pd.isna(value) else to_int(value) for value in values], "UInt64")


def _hex_number(key: str) -> int:
    return int(key, 16)
