"""Vectors on disk, keys in memory: millions of embeddings cost megabytes of RAM, not gigabytes.

Issue 14 asks that no stage hold the whole dataset. An embedding is 1.5 KB a text; its 64-bit
key is 8 bytes. `DiskRows` keeps the vectors in an anonymous temporary file (set TMPDIR for a
larger disk) and copies out only the rows asked for, with `pread`: the process's RSS holds what
a read returns, never the file. (A memory map does not: the kernel maps page-cache folios of up
to megabytes at each fault, so a few hundred scattered rows made the whole file resident.)
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


class DiskRows:
    """An append-only (rows, width) float32 matrix in a temporary file, indexed like an array
    (`rows[3]`, `rows[5:9]`, `rows[array]`), every read a copy in memory."""

    def __init__(self, width: int):
        self.width = width
        self._file = tempfile.TemporaryFile(prefix="pixelated-vectors-")  # noqa: SIM115 - lives with the object
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def shape(self) -> tuple[int, int]:
        return (self._count, self.width)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.width)
        written = os.pwrite(self._file.fileno(), block.data, self._count * self.width * 4)
        if written != block.nbytes:  # a full disk can cut a write short without an error
            raise OSError(f"short write of vectors: {written} of {block.nbytes} bytes (is TMPDIR full?)")
        self._count += len(block)

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, int | np.integer):
            return self[[rows]][0]
        if isinstance(rows, slice) and rows.step in (None, 1):
            first, stop, _ = rows.indices(self._count)
            return self._read(first, max(0, stop - first))
        index = np.arange(self._count)[rows] if isinstance(rows, slice) else np.asarray(rows)
        index = np.flatnonzero(index) if index.dtype == bool else index
        if len(index) and not (-self._count <= index.min() and index.max() < self._count):
            raise IndexError(f"rows out of range for {self._count} rows")
        picked = np.empty((len(index), self.width), np.float32)
        for row, out in zip((index % max(1, self._count)).tolist(), picked, strict=True):
            self._read(row, 1, out)
        return picked

    def _read(self, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows first..first+count-1, into `out` if given."""
        out = np.empty((count, self.width), np.float32) if out is None else out
        size = os.preadv(self._file.fileno(), [out], first * self.width * 4)
        if size != out.nbytes:
            raise OSError(f"short read of vectors: {size} of {out.nbytes} bytes")
        return out


class VectorStore:
    """Vectors by 64-bit key: the keys sorted in memory with their rows (16 bytes an entry),
    the vectors in `DiskRows`."""

    def __init__(self, width: int):
        self.vectors = DiskRows(width)
        self.keys = np.zeros(0, np.uint64)
        self._row_of = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        first = len(self.vectors)
        self.vectors.append(vectors)
        keys = np.concatenate([self.keys, np.asarray(keys, np.uint64)])
        rows = np.concatenate([self._row_of, np.arange(first, len(self.vectors), dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self.keys, self._row_of = keys[order], rows[order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's row in `vectors`, or -1 where it is absent."""
        keys = np.asarray(keys, np.uint64)
        if len(self.keys) == 0:
            return np.full(len(keys), -1, np.int64)
        at = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self._row_of[at], -1)
