"""What every reader shares: the registry, per-file context and safe line decoding.

A reader is a generator `read(path, source, options, ctx)` (the source's `SourceConfig`, the
run's `ReadOptions`) that yields canonical rows (dicts built with `ctx.conversation`) or
`Rejection`s built with `ctx.reject`. It never raises on bad data:
whatever it cannot read becomes a rejection naming the file, line and reason. Adding a
format means registering one such function; the ingest stage needs no change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixelated.core.hashing import stable_id
from pixelated.core.ledger import Rejection
from pixelated.ingest.config import ReadOptions, SourceConfig
from pixelated.ingest.conversation import DEFAULT_ROLE_MAP, SourceInfo, make_conversation, source_role_map

Item = dict | Rejection
Reader = Callable[[Path, SourceConfig, ReadOptions, "FileContext"], Iterator[Item]]

READERS: dict[str, Reader] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    def add(reader: Reader) -> Reader:
        if name in READERS:
            raise ValueError(f"reader {name!r} registered twice")
        READERS[name] = reader
        return reader

    return add


def get_reader(name: str) -> Reader:
    try:
        return READERS[name]
    except KeyError:
        raise ValueError(f"unknown input format {name!r}; known: {sorted(READERS)}") from None


@dataclass
class FileContext:
    """One input file of one source: where rows came from, and how to build them."""

    source: SourceInfo
    relpath: str  # path under data/raw, recorded as provenance
    sha256: str
    role_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_MAP))
    pseudonymize: tuple[str, ...] = ()  # metadata keys replaced by a stable hash

    @classmethod
    def for_file(cls, name: str, source: SourceConfig, relpath: str, sha256: str) -> FileContext:
        return cls(
            source=SourceInfo.from_config(name, source),
            relpath=relpath,
            sha256=sha256,
            role_map=source_role_map(source.role_map),
            pseudonymize=source.pseudonymize,
        )

    def conversation(self, record_id: str, turns: list[dict], line: int, **kwargs) -> Item:
        """A canonical row, or a rejection when its metadata cannot be typed."""
        metadata = kwargs.pop("metadata", None) or {}
        for key in self.pseudonymize:
            if metadata.get(key):
                metadata[key] = stable_id(self.source.name, key, str(metadata[key]))
        try:
            return make_conversation(
                self.source,
                record_id,
                turns,
                source_file=self.relpath,
                source_line=line,
                source_sha256=self.sha256,
                metadata=metadata,
                **kwargs,
            )
        except ValueError as err:
            return self.reject("bad_metadata", str(err), line)

    def reject(self, reason: str, detail: str, line: int | None, excerpt=None) -> Rejection:
        return Rejection(
            reason=reason,
            detail=detail,
            source=self.source.name,
            source_file=self.relpath,
            source_line=line,
            excerpt=None if excerpt is None else str(excerpt),
        )


def decode_lines(path: Path, ctx: FileContext) -> Iterator[tuple[int, str | Rejection]]:
    """(line number, text) for each non-blank line; undecodable lines become rejections.

    Reads bytes so one bad byte costs one line, not the file.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                detail = f"invalid UTF-8 at byte {err.start}: {raw[err.start : err.start + 4]!r}"
                yield number, ctx.reject("invalid_utf8", detail, number)
                continue
            if text.strip():
                yield number, text


def empty_file(path: Path, ctx: FileContext) -> Rejection | None:
    """A rejection for a file with no content at all, which would otherwise vanish unseen."""
    if path.is_file() and not path.read_bytes().strip():
        return ctx.reject("empty_file", "file has no content", None)
    return None


def get_path(record, dotted: str | None):
    """Value at a dotted path ('survey_score.seeker.empathy'), or None where any step is missing."""
    if dotted is None:
        return None
    value = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value
