"""Dedup features held on disk: only the keys every step reads stay in memory.

A conversation's shingle hashes, MinHash signature, embedding texts and helper-turn keys
take about 3 KB of memory; held for every conversation, they made dedup's peak memory grow
with its input. `spill` writes them to a temporary folder a batch at a time, and the
cascade reads back bounded chunks: signature rows and hash sets through a memory map opened
per read (the pages a read touched leave the process with it), texts and helper keys from
Parquet, a row group (one input batch) at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pixelated.dedup.minhash import HashSets

# the strings first: held as Arrow strings, a third of the memory of Python ones
KEYS = ("conversation_id", "source", "thread_id", "exact_key", "seeker_key", "length", "rating")
SIDES = ("seeker_text", "helper_text")
TEXTS = pa.schema(
    [pa.field(name, pa.string()) for name in ("conversation_id", "source", *SIDES)]
    + [pa.field("helper_keys", pa.list_(pa.string())), pa.field("helper_words", pa.list_(pa.int64()))]
)
SIGNATURES, HASHES, TEXT_FILE = "signatures.u32", "hashes.u32", "texts.parquet"
CHUNK_ROWS = 65_536  # signature rows per read: 32 MB at num_perm=128


class Features:
    """Per-conversation dedup features: `keys` in memory, the rest in a spill folder that
    closing (or garbage collection) removes. Built by `spill`."""

    def __init__(self, keys: pd.DataFrame, hash_sets: HashSets, num_perm: int, folder: ExitStack, path: Path):
        self.keys, self.hash_sets, self.num_perm = keys, hash_sets, num_perm
        self._folder, self.path = folder, path

    def __len__(self) -> int:
        return len(self.keys)

    def __enter__(self) -> Features:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._folder.close()

    @property
    def texts_file(self) -> Path:
        """Parquet of the TEXTS schema, a row group per input batch (for the report's SQL)."""
        return self.path / TEXT_FILE

    def signatures(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        """The MinHash signatures of `rows`, in order, CHUNK_ROWS at a time."""
        for start in range(0, len(rows), CHUNK_ROWS):
            table = np.memmap(self.path / SIGNATURES, np.uint32, "r", shape=(len(self), self.num_perm))
            yield np.array(table[rows[start : start + CHUNK_ROWS]])

    def side_texts(self, rows: np.ndarray | None = None) -> Iterator[tuple[list[str], list[str]]]:
        """(seeker texts, helper texts) of ascending `rows` (default all), a row group at a time."""
        texts = pq.ParquetFile(self.texts_file)
        first = 0
        for group in range(texts.num_row_groups):
            last = first + texts.metadata.row_group(group).num_rows
            if rows is None:
                wanted = slice(None)
            else:
                wanted = rows[np.searchsorted(rows, first) : np.searchsorted(rows, last)] - first
            if rows is None or len(wanted):
                table = texts.read_row_group(group, columns=list(SIDES))
                seeker, helper = (table.column(side).to_numpy(zero_copy_only=False)[wanted] for side in SIDES)
                yield seeker.tolist(), helper.tolist()
            first = last

    def all_side_texts(self) -> Iterator[str]:
        """Every seeker and helper text: what the embedding cache keeps (`EmbeddingCache.save`)."""
        for seeker, helper in self.side_texts():
            yield from seeker
            yield from helper


def spill(frames: Iterable[pd.DataFrame], folder: Path | None = None) -> Features:
    """`conversation_features` frames, in order, as `Features` spilled under `folder` (the
    system's temporary folder by default: set TMPDIR for inputs larger than it)."""
    stack = ExitStack()
    path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dedup-features-", dir=folder)))
    keys, sizes, num_perm = [], [], 0
    with (
        open(path / SIGNATURES, "wb") as signatures,
        open(path / HASHES, "wb") as hashes,
        pq.ParquetWriter(path / TEXT_FILE, TEXTS) as texts,
    ):
        for frame in frames:
            if frame.empty:
                continue
            keys.append(frame[list(KEYS)].astype(dict.fromkeys(KEYS[:5], "string[pyarrow]")))
            sizes.append(np.fromiter(map(len, frame["hashes"]), np.int64, len(frame)))
            np.concatenate(list(frame["hashes"])).astype(np.uint32).tofile(hashes)
            signature = np.stack(list(frame["signature"])).astype(np.uint32)
            num_perm = signature.shape[1]
            signature.tofile(signatures)
            texts.write_table(pa.Table.from_pandas(frame[TEXTS.names], schema=TEXTS, preserve_index=False))
    size = np.concatenate([np.zeros(0, np.int64), *sizes])
    key_frame = pd.concat(keys, ignore_index=True) if keys else pd.DataFrame(columns=list(KEYS))
    return Features(key_frame, HashSets(np.cumsum(size) - size, size, path / HASHES), num_perm, stack, path)
