"""Readers for formats whose records are nested objects: JSONL, JSON arrays, Parquet,
Hugging Face datasets and OpenAI chat JSONL. One field mapping from config turns any such
record into a canonical conversation, so a new dataset in these formats is config only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from pixelated.core.ledger import EXCERPT_CHARS
from pixelated.core.tableio import parquet_file
from pixelated.ingest.config import ReadOptions, RecordMapping, SourceConfig
from pixelated.ingest.conversation import make_turn, map_role
from pixelated.ingest.readers import jsonarray
from pixelated.ingest.readers.base import FileContext, Item, decode_lines, empty_file, get_path, register


def _scalar(value) -> str | None:
    """Annotation values as text; a list (e.g. several labels) is joined with '|'."""
    if value is None:
        return None
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def _is_column_dict(value) -> bool:
    columns = list(value.values()) if isinstance(value, dict) else []
    return bool(columns) and all(isinstance(c, list) for c in columns) and len({len(c) for c in columns}) == 1


def _excerpt(record) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=str)[:EXCERPT_CHARS]
    except (RecursionError, ValueError):
        return "(record nested too deeply to print)"


def record_to_item(record, number: int, mapping: RecordMapping, ctx: FileContext) -> Item:
    """One source record to a canonical row, or a rejection saying what is wrong with it."""
    excerpt = _excerpt(record)
    if not isinstance(record, dict):
        return ctx.reject("not_an_object", f"record is {type(record).__name__}", number, excerpt)
    raw_turns = get_path(record, mapping.turns)
    if hasattr(raw_turns, "tolist"):  # numpy arrays from Parquet/Arrow
        raw_turns = raw_turns.tolist()
    if _is_column_dict(raw_turns):
        # Hugging Face `Sequence({...})` features store turns as a dict of equal-length columns
        raw_turns = [
            dict(zip(raw_turns, values, strict=True)) for values in zip(*raw_turns.values(), strict=True)
        ]
    if not isinstance(raw_turns, list):
        detail = f"field '{mapping.turns}' is {type(raw_turns).__name__}, expected a list"
        return ctx.reject("missing_turns", detail, number, excerpt)
    turns = []
    for index, raw in enumerate(raw_turns):
        if not isinstance(raw, dict):
            detail = f"turn {index} is {type(raw).__name__}, expected an object"
            return ctx.reject("malformed_turn", detail, number, excerpt)
        text = get_path(raw, mapping.text)
        annotations = {k: _scalar(get_path(raw, path)) for k, path in mapping.turn_fields.items()}
        try:
            turn = make_turn(
                map_role(get_path(raw, mapping.role), ctx.role_map),
                text if text is None or isinstance(text, str) else str(text),
                **annotations,
            )
        except ValueError as err:  # whole_number's message names no value
            return ctx.reject("bad_turn_annotation", f"turn {index}: {err}", number, excerpt)
        turns.append(turn)
    record_id = get_path(record, mapping.id) if mapping.id else None
    return ctx.conversation(
        f"{ctx.relpath}#{number}" if record_id is None else str(record_id),
        turns,
        number,
        thread_id=_scalar(get_path(record, mapping.thread)),
        source_split=_scalar(get_path(record, mapping.split)),
        metadata={key: get_path(record, path) for key, path in mapping.metadata.items()},
    )


def _map_records(
    records: Iterable[tuple[int, object]], mapping: RecordMapping, ctx: FileContext
) -> Iterator[Item]:
    """Records of a columnar file as items; a file that stops reading costs one rejection
    (its rows read so far are kept), never an exception."""
    number = 0
    try:
        for number, record in records:
            ctx.records_seen += 1
            yield record_to_item(record, number, mapping, ctx)
    except Exception as err:  # a corrupt file is data, not a bug
        ctx.records_seen += 1
        detail = f"file unreadable after record {number} ({type(err).__name__}); rest of file skipped"
        yield ctx.reject("unreadable_file", detail, number + 1)


def _jsonl(path: Path, mapping: RecordMapping, ctx: FileContext) -> Iterator[Item]:
    if rejection := empty_file(path, ctx):
        yield rejection
        return
    for number, line in decode_lines(path, ctx):
        ctx.records_seen += 1
        if not isinstance(line, str):
            yield line
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield ctx.reject("invalid_json", f"{err.msg} at column {err.colno}", number, line)
            continue
        except RecursionError:
            yield ctx.reject("invalid_json", "nested too deeply", number, line)
            continue
        yield record_to_item(record, number, mapping, ctx)


@register("jsonl")
def read_jsonl(path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext) -> Iterator[Item]:
    """One JSON object per line, mapped by the source's `mapping`."""
    yield from _jsonl(path, source.mapping, ctx)


@register("openai_chat")
def read_openai_chat(
    path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext
) -> Iterator[Item]:
    """OpenAI chat fine-tuning JSONL: {"messages": [{"role", "content"}, ...]}."""
    yield from _jsonl(path, source.mapping.over(turns="messages", role="role", text="content"), ctx)


@register("json")
def read_json_array(
    path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext
) -> Iterator[Item]:
    """A JSON array of records (e.g. ESConv.json), each element decoded on its own.

    A record that does not decode is one rejection at its line; reading resumes at the next
    record boundary (see `jsonarray`), so the records after it are kept.
    """
    if rejection := empty_file(path, ctx):
        yield rejection
        return
    text = path.read_bytes().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    number, cut = 0, False  # records so far (a record's "line" is its number); last one cut off?
    for element in jsonarray.elements(text):
        if element.error == "eof" and cut:
            continue  # the cut-off record is already a rejection
        cut = element.error is not None
        if item := _array_item(text, element, number + 1, source.mapping, ctx):
            ctx.records_seen += 1
            number += 1
            yield item
    if number == 0:
        ctx.records_seen += 1
        yield ctx.reject("empty_file", "no records in the JSON array (or not an array)", None)


_ARRAY_ENDS = {
    "trailing": ("trailing_data", "content after the closing ] of the array"),
    "eof": ("truncated_file", "the file ends before the closing ] of the array"),
}


def _array_item(text: str, element: jsonarray.Element, line: int, mapping, ctx: FileContext) -> Item | None:
    """One array element as a row or rejection; the final marker as a rejection where the
    array does not end cleanly, None where it does."""
    excerpt = text[element.start : element.start + EXCERPT_CHARS]
    if element.error in ("end", "not_an_array"):
        return None
    if element.error in _ARRAY_ENDS:
        reason, detail = _ARRAY_ENDS[element.error]
        return ctx.reject(reason, detail, line, excerpt or None)
    if any("\udc80" <= ch <= "\udcff" for ch in text[element.start : element.end]):
        return ctx.reject("invalid_utf8", "record holds bytes that are not UTF-8", line, excerpt)
    if element.error is not None:
        return ctx.reject("invalid_json", f"record does not decode: {element.error}", line, excerpt)
    return record_to_item(element.value, line, mapping, ctx)


@register("parquet")
def read_parquet(path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext) -> Iterator[Item]:
    """Parquet with nested turns, read batch by batch."""

    def rows() -> Iterator[dict]:
        for batch in parquet_file(path).iter_batches(options.batch_size):
            yield from batch.to_pylist()

    yield from _map_records(enumerate(rows(), 1), source.mapping, ctx)


@register("hf_dataset")
def read_hf_dataset(
    path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext
) -> Iterator[Item]:
    """A Hugging Face dataset directory written by `save_to_disk` (Dataset or DatasetDict).

    The split of a DatasetDict becomes `source_split` unless the mapping names a split field.
    """
    import datasets  # heavy import, only for sources that need it

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:  # a corrupt dataset folder is data, not a bug
        ctx.records_seen += 1
        yield ctx.reject("unreadable_file", f"not a saved dataset ({type(err).__name__})", None)
        return
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, dataset in sorted(splits, key=lambda item: item[0] or ""):
        split_ctx = replace(ctx, relpath=f"{ctx.relpath}/{split}", records_seen=0) if split else ctx
        for item in _map_records(enumerate(dataset, 1), source.mapping, split_ctx):
            if split and isinstance(item, dict) and item["source_split"] is None:
                item["source_split"] = split
            yield item
        if split_ctx is not ctx:
            ctx.records_seen += split_ctx.records_seen
