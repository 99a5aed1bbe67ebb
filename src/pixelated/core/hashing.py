"""Every hash the pipeline computes, in one place: ids, text keys, file digests, seeded orders.

Ids and orders are pure functions of their inputs, so a rerun on any machine gives the same
bytes; file digests are the ones `dvc.lock` records, so a report can name a data version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import BinaryIO

import xxhash

_BLOCK = 1 << 20


def stable_id(*parts: str) -> str:
    """16 hex chars of sha256 over the parts; the same inputs give the same id on any machine."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def text_key(text: str) -> str:
    """A fast 64-bit key for an exact text: embedding caches and dedup keys."""
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8"))


def text_hash(text: str) -> int:
    """`text_key` as the integer it spells: a key held in memory as 8 bytes, not a string."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8"))


def seeded_key(seed: int, *parts: object) -> str:
    """A sort key that shuffles items reproducibly: the same seed and item give the same place."""
    return hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()


def seeded_key_sql(seed: str, part: str) -> str:
    """`seeded_key(seed, part)` as a DuckDB expression over the SQL expressions `seed` (a
    parameter such as `$seed`) and `part` (a column), so a query sorts in the same order."""
    return f"sha256(CAST({seed} AS VARCHAR) || ':' || {part})"


def stream_digest(handle: BinaryIO, algorithm: str = "md5") -> str:
    """Hex digest of a binary stream, read in 1 MiB blocks (files of any size)."""
    digest = hashlib.new(algorithm)
    for block in iter(lambda: handle.read(_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    with open(path, "rb") as handle:
        return stream_digest(handle, algorithm)


def sha256_file(path: str | Path) -> str:
    return file_digest(path, "sha256")


def file_md5(path: str | Path) -> str:
    """The md5 DVC records in dvc.lock for a file output."""
    return file_digest(path, "md5")


def dvc_md5(path: str | Path) -> str:
    """The hash `dvc.lock` records for an output: a file's md5, or for a folder the md5 of its
    sorted (relpath, md5) listing with a `.dir` suffix, so runs name the exact data version."""
    path = Path(path)
    if not path.is_dir():
        return file_md5(path)
    entries = [
        {"md5": file_md5(file), "relpath": file.relative_to(path).as_posix()}
        for file in sorted(path.rglob("*"))
        if file.is_file()
    ]
    listing = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True).encode()
    return hashlib.md5(listing).hexdigest() + ".dir"
