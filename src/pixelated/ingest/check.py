"""Check one file the way the pipeline would read it, without running the pipeline: the
registered reader of its format, then the canonical schema (validate's rules). Every record
the pipeline would quarantine is a problem with the file, line and reason.

How to read the file comes from the configured sources (params.yaml): the one named, or the one
whose columns (CSV) or turns field (JSON records) the file has, preferring a source whose
`read` patterns name the file; a record file no source fits is read with the default mapping.
"""

from __future__ import annotations

import csv
import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pixelated.core.ledger import Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import from_records
from pixelated.core.validation import validate_batch
from pixelated.ingest.config import CSV_REQUIRED, ReadOptions, SourceConfig
from pixelated.ingest.readers import FileContext, get_reader
from pixelated.ingest.readers.base import get_path

ADHOC = "file"  # the source name of a file read with the default mapping


class CheckError(ValueError):
    """The file cannot be checked at all (unknown source, format not recognised)."""


@dataclass
class CheckResult:
    path: Path
    source: str
    format: str
    records: int = 0  # rows and rejections the reader gave
    valid: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows that pass the schema
    problems: list[Rejection] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return int(self.valid["n_turns"].sum()) if len(self.valid) else 0

    def summary(self) -> dict:
        """The machine-readable result (`--json`); never a record's text."""
        return {
            "file": str(self.path),
            "source": self.source,
            "format": self.format,
            "records": self.records,
            "valid": len(self.valid),
            "turns": self.turns,
            "quarantined": len(self.problems),
            "problems": [
                {"line": p.source_line, "reason": p.reason, "detail": p.detail} for p in self.problems
            ],
        }


def _first_record(path: Path, fmt: str):
    """The first record of a JSON or JSONL file, for telling sources apart; None if unreadable."""
    import ijson

    try:
        with open(path, "rb") as handle:
            if fmt == "json":
                return next(ijson.items(handle, "item", use_float=True), None)
            return json.loads(next((line for line in handle if line.strip()), b"null"))
    except (ValueError, ijson.JSONError, OSError):
        return None


def _csv_header(path: Path) -> set[str]:
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            return set(next(csv.reader(handle), []))
    except OSError:
        return set()


def _csv_columns(source: SourceConfig) -> set[str]:
    named = [source.conversation, source.role, source.text, source.id, source.helper_text]
    return {c for c in [*named, *source.seeker_text] if c is not None}


def guess_format(path: Path) -> str:
    """The reader for a file, from its name and first bytes ("csv": either CSV reader)."""
    if path.is_dir():
        return "hf_dataset"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".json":
        with open(path, "rb") as handle:
            if handle.read(4096).lstrip().startswith(b"["):
                return "json"
    record = _first_record(path, "jsonl")
    return "openai_chat" if isinstance(record, dict) and "messages" in record else "jsonl"


def _fits(path: Path, fmt: str, source: SourceConfig) -> bool:
    if fmt == "csv" or fmt in CSV_REQUIRED:
        same = fmt in ("csv", source.format) and source.format in CSV_REQUIRED
        return same and _csv_columns(source) <= _csv_header(path)
    if source.format != fmt:
        return False
    record = _first_record(path, fmt) if fmt in ("json", "jsonl") else None
    return record is not None and get_path(record, source.mapping.turns) is not None


def choose_source(
    path: Path, sources: Mapping[str, SourceConfig], fmt: str | None = None, name: str | None = None
) -> tuple[str, SourceConfig]:
    """(source name, its config) to read `path` with; `fmt` overrides the format."""
    if name is not None:
        if name not in sources:
            raise CheckError(f"no source {name!r} in params.yaml; known: {', '.join(sorted(sources))}")
        source = sources[name]
        return name, source if fmt is None else _with_format(source, fmt)
    fmt = fmt or guess_format(path)
    fitting = [n for n, s in sorted(sources.items()) if _fits(path, fmt, s)]
    named = [n for n in fitting if any(fnmatch.fnmatch(path.name, p) for p in sources[n].read)]
    if fitting:
        chosen = (named or fitting)[0]
        return chosen, sources[chosen]
    if fmt == "csv" or fmt in CSV_REQUIRED:
        raise CheckError("no configured source has this CSV's columns: name one with --source")
    return ADHOC, _with_format(None, fmt)


def _with_format(source: SourceConfig | None, fmt: str) -> SourceConfig:
    base = source.model_dump() if source else {"location": ".", "files": {}, "read": ["*"], "license": "?"}
    try:
        return SourceConfig.model_validate({**base, "format": fmt})
    except ValueError as err:
        raise CheckError(f"cannot read as {fmt!r}: {err}") from None


def check_file(
    path: Path, name: str, source: SourceConfig, options: ReadOptions, max_turn_chars: int
) -> CheckResult:
    """Read `path` with the source's reader, then the canonical schema; nothing is written."""
    ctx = FileContext.for_file(name, source, str(path), "0" * 64)
    result = CheckResult(path, name, source.format)
    rows = []
    for item in get_reader(source.format)(path, source, options, ctx):
        result.records += 1
        if isinstance(item, Rejection):
            result.problems.append(item)
        else:
            rows.append(item)
    if rows:
        result.valid, failed = validate_batch(from_records(rows, CONVERSATION_SCHEMA), max_turn_chars)
        result.problems += failed
    result.problems.sort(key=lambda p: (p.source_line or 0, p.reason))
    return result
