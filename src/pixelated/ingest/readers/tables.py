"""Readers for CSV: one row per utterance (EmpatheticDialogues, HOPE, MI-labelled
counsel-chat) or one row per question/answer exchange (counsel-chat). Columns come from
config, so a new CSV dataset of either shape needs no code.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixelated.ingest.config import ReadOptions, SourceConfig
from pixelated.ingest.conversation import make_turn, map_role
from pixelated.ingest.readers.base import FileContext, Item, empty_file, register


def _has_bad_bytes(cells: list[str]) -> bool:
    """True where decoding with surrogateescape kept undecodable bytes as lone surrogates."""
    return any("\udc80" <= ch <= "\udcff" for cell in cells for ch in cell)


def csv_rows(path: Path, max_field_bytes: int, ctx: FileContext) -> Iterator[tuple[int, dict | Item]]:
    """(first line of the row, {column: value}) per data row; bad rows come as rejections.

    Rows with more or fewer fields than the header (shifted columns) and rows with bytes that
    are not UTF-8 are rejected one by one; a quoting error that the parser cannot recover
    from rejects the rest of the file in one entry naming the line where it happened.
    """
    if rejection := empty_file(path, ctx):
        yield 0, rejection
        return
    csv.field_size_limit(min(max_field_bytes, sys.maxsize))
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.lstrip("\ufeff") for name in next(reader, [])]
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield line, ctx.reject("csv_error", f"{err}; rest of file skipped", line)
                return
            if not any(cell.strip() for cell in cells):
                continue
            excerpt = ",".join(cells)
            if len(cells) != len(header):
                detail = f"expected {len(header)} fields {header}, got {len(cells)}"
                yield line, ctx.reject("csv_field_count", detail, line, excerpt)
            elif _has_bad_bytes(cells):
                yield line, ctx.reject("invalid_utf8", "row holds bytes that are not UTF-8", line)
            else:
                yield line, dict(zip(header, cells, strict=True))


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
        detail = f"conversation {group.id} holds an unreadable row at line {group.bad_line}"
        return ctx.reject("contains_bad_row", detail, group.line)
    if group.id in seen:
        return ctx.reject(
            "non_contiguous_conversation", f"rows of conversation {group.id} are not contiguous", group.line
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
    metadata instead of turns. A conversation with a bad row is rejected with it.
    """
    context = source.context_rows
    seen: set[str] = set()
    group: _Conversation | None = None
    for line, row in csv_rows(path, options.max_field_bytes, ctx):
        if not isinstance(row, dict):
            yield row
            if group is not None:
                group.bad_line = line
            continue
        conversation_id = row.get(source.conversation, "") if source.conversation else path.stem
        if group is None or conversation_id != group.id:
            if group is not None:
                yield _close(group, seen, path, source, ctx)
            group = _Conversation(conversation_id, line, row)
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
        if not isinstance(row, dict):
            yield row
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
