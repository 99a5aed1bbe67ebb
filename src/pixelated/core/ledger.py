"""Row accounting: every stage proves rows in = rows out + rows dropped (by reason).

Dropped rows are written to a quarantine table with the file, line and reason, so an
auditor can find each one; the ledger JSON is committed to git (a cache: false output), so
`make review` shows how many rows each stage kept and dropped between two versions.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pixelated.core import atomic

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Rejection:
    """One input unit that a stage refused, with where it came from and why."""

    reason: str
    detail: str
    source: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    conversation_id: str | None = None
    excerpt: str | None = None

    def as_row(self, stage: str) -> dict:
        excerpt = None if self.excerpt is None else self.excerpt[:EXCERPT_CHARS]
        return {
            "stage": stage,
            "source": _storable(self.source),
            "source_file": _storable(self.source_file),
            "source_line": self.source_line,
            "conversation_id": self.conversation_id,
            "reason": self.reason,
            "detail": _storable(self.detail),
            "excerpt": _storable(excerpt),
        }

    def describe(self) -> str:
        where = ":".join(str(p) for p in (self.source_file, self.source_line) if p is not None)
        return f"{where or self.conversation_id or '?'}: {self.reason}: {self.detail}"


def _storable(text: str | None) -> str | None:
    """Text that UTF-8 can encode: a lone surrogate from a hostile file becomes its escape
    instead of failing the quarantine writer."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class LedgerError(AssertionError):
    """The counts of a stage do not add up: a row was lost or invented."""


class Ledger:
    """Counts for one stage, optionally broken down by source."""

    def __init__(self, stage: str):
        self.stage = stage
        self.rows_in = 0
        self.rows_out = 0
        self.dropped: Counter[str] = Counter()
        self.by_source: dict[str, Counter[str]] = {}
        # per input file (ingest): records the reader framed, and the rows and rejections it
        # made of them; `sampled` files were not read to the end and are not checked
        self.files: dict[str, dict[str, int | bool]] = {}

    def count_file(self, relpath: str, records_seen: int, rows: int, quarantined: int, sampled: bool) -> None:
        entry = {"records_seen": records_seen, "rows": rows, "quarantined": quarantined}
        self.files[relpath] = {**entry, "sampled": True} if sampled else entry

    def _source(self, source: str | None) -> Counter[str]:
        return self.by_source.setdefault(source or "unknown", Counter())

    def count_in(self, n: int = 1, source: str | None = None) -> None:
        self.rows_in += n
        self._source(source)["in"] += n

    def count_out(self, n: int = 1, source: str | None = None) -> None:
        self.rows_out += n
        self._source(source)["out"] += n

    def count_frame_in(self, frame) -> None:
        """Count a batch of canonical rows in, per source."""
        for source, n in frame["source"].value_counts(sort=False).items():
            self.count_in(int(n), source)

    def count_frame_out(self, frame) -> None:
        for source, n in frame["source"].value_counts(sort=False).items():
            self.count_out(int(n), source)

    def count_drop(self, reason: str, n: int = 1, source: str | None = None) -> None:
        self.dropped[reason] += n
        self._source(source)[f"dropped_{reason}"] += n

    def add(self, counts: dict) -> None:
        """Add the counts of another ledger of this stage (`as_dict`): a shard's."""
        self.rows_in += counts["rows_in"]
        self.rows_out += counts["rows_out"]
        self.dropped.update(counts["dropped"])
        for source, entry in counts["by_source"].items():
            self._source(source).update(entry)
        self.files.update(counts.get("files", {}))

    def check(self) -> None:
        total = self.rows_out + sum(self.dropped.values())
        if self.rows_in != total:
            raise LedgerError(
                f"{self.stage}: rows_in={self.rows_in} but rows_out + dropped = {total} "
                f"({self.rows_out} + {dict(self.dropped)})"
            )
        for relpath, entry in self.files.items():
            if not entry.get("sampled") and entry["records_seen"] != entry["rows"] + entry["quarantined"]:
                raise LedgerError(
                    f"{self.stage}: {relpath}: records_seen={entry['records_seen']} but rows + quarantined"
                    f" = {entry['rows']} + {entry['quarantined']}: a record was lost or counted twice"
                )

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_dropped": sum(self.dropped.values()),
            "dropped": dict(sorted(self.dropped.items())),
            "by_source": {s: dict(sorted(c.items())) for s, c in sorted(self.by_source.items())},
            **({"files": dict(sorted(self.files.items()))} if self.files else {}),
        }

    def write(self, path: str | Path) -> None:
        """Check the identity, then write; a broken identity never reaches disk."""
        self.check()
        atomic.write_json(path, self.as_dict())
        log.info(
            "%s: in=%d out=%d dropped=%s",
            self.stage,
            self.rows_in,
            self.rows_out,
            dict(self.dropped) or 0,
        )


def row_rejection(row, reason: str, detail: str) -> Rejection:
    """A rejection for a canonical row; provenance columns say where it came from.

    No excerpt: the file and line point into data/raw, and quarantine stays free of text.
    """
    return Rejection(
        reason=reason,
        detail=detail,
        source=row["source"],
        source_file=row["source_file"],
        source_line=int(row["source_line"]),
        conversation_id=row["conversation_id"],
    )
