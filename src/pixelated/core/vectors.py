"""Vectors on disk, keys in memory: millions of embeddings cost megabytes of RAM, not gigabytes.

Issue 14 asks that no stage hold the whole dataset. An embedding is 1.5 KB a text; its 64-bit
key is 8 bytes. `DiskRows` keeps the vectors in an anonymous temporary file (set TMPDIR for a
larger disk) and reads them through a memory map whose resident pages it hands back to the OS
after each read, so the process's RSS holds one block of reads, not the file.
"""

from __future__ import annotations

import mmap
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
        self._map: mmap.mmap | None = None
        self._view: np.ndarray | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def shape(self) -> tuple[int, int]:
        return (self._count, self.width)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.width)
        self._file.seek(0, os.SEEK_END)
        self._file.write(block.tobytes())
        self._file.flush()
        self._count += len(block)
        self._view = self._map = None  # remapped at the next read, with the new length

    def __getitem__(self, rows) -> np.ndarray:
        if self._count == 0:
            return np.zeros((0, self.width), np.float32)[rows]
        if self._view is None:
            self._map = mmap.mmap(self._file.fileno(), self._count * self.width * 4, access=mmap.ACCESS_READ)
            self._view = np.frombuffer(self._map, np.float32).reshape(self._count, self.width)
        picked = np.array(self._view[rows])
        self._map.madvise(mmap.MADV_DONTNEED)  # the pages stay in the OS cache, not in our RSS
        return picked


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
