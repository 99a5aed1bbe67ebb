"""Span cache: PII spans per text, keyed by a hash of (detector fingerprint, text).

Analysis is the slow part of anonymize; a rerun after an upstream change re-analyzes only
texts it has not seen. The cache holds offsets and types, never text, so it is not raw data.
It is a DVC output with `persist: true` (kept across runs) and is rewritten holding exactly
the texts of the current input, sorted, so it stays byte-deterministic and does not grow.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pixelated.core.atomic import atomic_path
from pixelated.core.tableio import read_cache_table
from pixelated.privacy.engine import Span

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("entity", pa.string()),
        ("score", pa.float64()),
    ]
)


def span_key(fingerprint: str, text: str) -> str:
    return hashlib.sha256(f"{fingerprint}\x1f{text}".encode()).hexdigest()[:32]


def load(path: Path) -> dict[str, list[Span]]:
    """key -> spans; a text with no PII has an entry with no spans (a row with null entity).
    An absent or unreadable cache is empty (an unreadable one is logged and deleted)."""
    table = read_cache_table(path, SCHEMA)
    if table is None:
        return {}
    spans: dict[str, list[Span]] = defaultdict(list)
    for row in table.to_pylist():
        entry = spans[row["key"]]
        if row["entity"] is not None:
            entry.append(Span(row["start"], row["end"], row["entity"], row["score"]))
    return dict(spans)


def save(path: Path, entries: dict[str, list[Span]]) -> None:
    rows = []
    for key in sorted(entries):
        spans = entries[key]
        if not spans:
            rows.append({"key": key, "start": None, "end": None, "entity": None, "score": None})
        rows.extend(
            {"key": key, "start": s.start, "end": s.end, "entity": s.entity, "score": s.score}
            for s in sorted(spans)
        )
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp, compression="zstd")
