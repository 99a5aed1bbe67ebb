"""Readers for CSV: one row per utterance (EmpatheticDialogues, HOPE, MI-labelled
counsel-chat) or one row per question/answer exchange (counsel-chat). Columns come from
config, so a new CSV dataset of either shape needs no code.
"""

from __future__ import annotations

import csv
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixelated.core import csvsafe
from pixelated.core.ledger import Rejection
from pixelated.ingest.config import ReadOptions, SourceConfig
from pixelated.ingest.conversation import make_turn, map_role
from pixelated.ingest.readers.base import FileContext, Item, empty_file, register


def _has_bad_bytes(cells: list[str]) -> bool:
    """True where decoding with surrogateescape kept undecodable bytes as lone surrogates."""
    return any("\udc80" <= ch <= "\udcff" for cell in cells for ch in cell)


@dataclass
class BadRow:
    """A data row that cannot be read, and its cells as far as they parse (to attribute it)."""

    rejection: Rejection
    cells: dict[str, str]


class _Lines:
    """The physical lines of a CSV file, numbered, fed to `csv.reader` one at a time.

    `take()` hands back the lines of the record just parsed; lines pushed back are read
    again, so parsing can resume at any line after a bad record instead of losing the rest.
    """

    def __init__(self, handle):
        self._handle = handle
        self._pending: deque[tuple[int, str]] = deque()
        self._count = 0
        self._taken: list[tuple[int, str]] = []
        self.exhausted = False  # the file's end was reached

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._pending:
            item = self._pending.popleft()
        else:
            text = self._handle.readline()
            if not text:
                self.exhausted = True
                raise StopIteration
            self._count += 1
            item = (self._count, text)
        self._taken.append(item)
        return item[1]

    def take(self) -> list[tuple[int, str]]:
        taken, self._taken = self._taken, []
        return taken

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        self._pending.extendleft(reversed(lines))


def _cells(text: str) -> list[str]:
    """One physical line parsed alone: the cells of a record whose quoting went wrong."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return []


def _records(lines: _Lines) -> Iterator[tuple[list[tuple[int, str]], list[str] | str]]:
    """(physical lines, cells) per record, or (lines, reason) where the framing broke.

    A record that spans lines (or ends at EOF) and holds an odd number of quote characters has
    an unclosed quote that swallowed the rows after it (or was cut off); like a parser error,
    it costs its first line only: parsing resumes on the next line, so later rows are read,
    not silently merged.
    """
    reader = csv.reader(lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            taken, reason = lines.take(), "csv_error"
            if not taken:
                return
        else:
            taken = lines.take()
            odd = sum(text.count('"') for _, text in taken) % 2 == 1
            unclosed = odd and (len(taken) > 1 or lines.exhausted)  # spans lines, or cut by EOF
            if not unclosed:
                yield taken, [csvsafe.restore(cell) for cell in cells]
                continue
            reason = "csv_unclosed_quote"
        lines.push_back(taken[1:])
        reader = csv.reader(lines)  # a fresh parser: the old one may be inside a quoted field
        yield taken[:1], reason


def csv_rows(
    path: Path, max_field_bytes: int, ctx: FileContext
) -> Iterator[tuple[int, dict | Item | BadRow]]:
    """(first line of the row, {column: value}) per data row; bad rows come as `BadRow`s.

    Rows with more or fewer fields than the header (shifted columns), rows with bytes that
    are not UTF-8 and lines where the quoting breaks are rejected one by one; reading goes on
    with the next line. Cells written by our own CSV writers lose their formula guard (csvsafe).
    """
    if rejection := empty_file(path, ctx):
        yield 0, rejection
        return
    csv.field_size_limit(min(max_field_bytes, sys.maxsize))
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        records = _records(_Lines(handle))
        _, header = next(records, ([], []))
        header = [name.lstrip("\ufeff") for name in header] if isinstance(header, list) else []
        for taken, cells in records:
            line = taken[0][0]
            if isinstance(cells, str):
                detail = f"quoting breaks in this line ({cells}); reading resumes on the next line"
                bad = ctx.reject(cells, detail, line, taken[0][1])
                yield line, BadRow(bad, dict(zip(header, _cells(taken[0][1]), strict=False)))
            elif any(cell.strip() for cell in cells):
                yield line, _checked(cells, header, line, ctx)


def _checked(cells: list[str], header: list[str], line: int, ctx: FileContext) -> dict | BadRow:
    """A row as {column: value}, or a `BadRow` for a wrong field count or bytes that are not UTF-8."""
    fields = dict(zip(header, cells, strict=False))
    if len(cells) != len(header):
        detail = f"expected {len(header)} fields {header}, got {len(cells)}"
        return BadRow(ctx.reject("csv_field_count", detail, line, ",".join(cells)), fields)
    if _has_bad_bytes(cells):
        excerpt = ",".join(cells).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return BadRow(ctx.reject("invalid_utf8", "row holds bytes that are not UTF-8", line, excerpt), fields)
    return fields


def _metadata(row: dict, columns: dict[str, str]) -> dict:
    return {key: row.get(column) for key, column in columns.items()}


def _turn(row: dict, source: SourceConfig, ctx: FileContext) -> dict:
    annotations = {field: row.get(column) or None for field, column in source.turn_fields.items()}
    return make_turn(map_role(row.get(source.role), ctx.role_map), row.get(source.text), **annotations)


@dataclass
class _Conversation:
    """The rows of one conversation in an utterance CSV, gathered while reading."""

    id: str
    line: int  # where its first row starts
    first: dict
    rows: list[dict] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)  # from context rows, to metadata
    bad_line: int | None = None  # an unreadable row inside it


def _close(group: _Conversation, seen: set[str], path: Path, source: SourceConfig, ctx: FileContext) -> Item:
    """One gathered conversation as a row, or a rejection for a bad or repeated block."""
    if group.bad_line is not None:
        detail = f"the conversation starting here holds an unreadable row at line {group.bad_line}"
        return ctx.reject("contains_bad_row", detail, group.line)
    if group.id in seen:
        return ctx.reject(
            "non_contiguous_conversation", "rows of this conversation id came earlier in the file", group.line
        )
    seen.add(group.id)
    metadata = {**_metadata(group.first, source.metadata), **group.context}
    if key := source.metadata_from_filename:
        metadata[key] = path.stem
    try:
        turns = [_turn(row, source, ctx) for row in group.rows]
    except ValueError as err:
        return ctx.reject("bad_turn_annotation", str(err), group.line)
    return ctx.conversation(
        group.id,
        turns,
        group.line,
        thread_id=group.first.get(source.thread) if source.thread else None,
        metadata=metadata,
    )


def _owner(bad: BadRow, source: SourceConfig, path: Path) -> str | None:
    """The conversation a bad row names in its own id cell, or None where that cell is unreadable."""
    if not source.conversation:
        return path.stem
    owner = bad.cells.get(source.conversation)
    return None if not owner or _has_bad_bytes([owner]) else owner


@register("utterance_csv")
def read_utterance_csv(
    path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext
) -> Iterator[Item]:
    """Rows that are utterances, grouped into conversations by the source's `conversation`.

    Rows of one conversation must be contiguous (as in every dataset we know); a block of
    rows whose id already appeared earlier is rejected (non_contiguous_conversation) rather
    than merged. Reading streams, so the earlier block has been kept by then.
    `conversation: null` makes the whole file one conversation (HOPE: one session per file).
    Rows matching `context_rows` describe the conversation (ED's "situation") and go to
    metadata instead of turns. A bad row is rejected, and so is the conversation its own id
    cell names (only that one); where the id is unreadable, both neighbours are rejected.
    """
    context = source.context_rows
    seen: set[str] = set()
    group: _Conversation | None = None
    suspects: list[tuple[str | None, int]] = []  # bad rows (owner, line) not yet matched to a conversation
    for line, row in csv_rows(path, options.max_field_bytes, ctx):
        if not isinstance(row, dict):
            ctx.records_seen += isinstance(row, BadRow)  # an empty file counted itself
            yield row.rejection if isinstance(row, BadRow) else row
            owner = _owner(row, source, path) if isinstance(row, BadRow) else None
            if group is not None and owner in (None, group.id):
                group.bad_line = line
            if owner is None or group is None or owner != group.id:
                suspects.append((owner, line))
            continue
        conversation_id = row.get(source.conversation, "") if source.conversation else path.stem
        if group is None or conversation_id != group.id:
            if group is not None:
                yield _close(group, seen, path, source, ctx)
            ctx.records_seen += 1
            group = _Conversation(conversation_id, line, row)
            group.bad_line = next((n for owner, n in suspects if owner in (None, conversation_id)), None)
            suspects = []
        if context and row.get(context.column) == context.value:
            group.context[context.text_to] = row.get(source.text)
        else:
            group.rows.append(row)
    if group is not None:
        yield _close(group, seen, path, source, ctx)


@register("qa_csv")
def read_qa_csv(path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext) -> Iterator[Item]:
    """Rows that are one exchange: the seeker's columns joined into one turn, then the helper's.

    Counsel-chat has one row per therapist answer; each becomes its own seeker->helper
    conversation, and `thread` (the question id) ties answers to one question together.
    """
    for line, row in csv_rows(path, options.max_field_bytes, ctx):
        ctx.records_seen += not isinstance(row, Rejection)  # an empty file counted itself
        if not isinstance(row, dict):
            yield row.rejection if isinstance(row, BadRow) else row
            continue
        seeker = "\n\n".join(row[c].strip() for c in source.seeker_text if row.get(c, "").strip())
        turns = [make_turn("seeker", seeker), make_turn("helper", row.get(source.helper_text))]
        record_id = row.get(source.id) if source.id is not None else None
        yield ctx.conversation(
            record_id or f"{ctx.relpath}#{line}",
            turns,
            line,
            thread_id=row.get(source.thread) if source.thread else None,
            source_split=row.get(source.split) if source.split else None,
            metadata=_metadata(row, source.metadata),
        )
