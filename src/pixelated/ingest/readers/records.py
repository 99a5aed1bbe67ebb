"""Readers for formats whose records are nested objects: JSONL, JSON arrays, Parquet,
Hugging Face datasets and OpenAI chat JSONL. One field mapping from config turns any such
record into a canonical conversation, so a new dataset in these formats is config only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import ijson
import pyarrow.parquet as pq

from pixelated.ingest.config import ReadOptions, RecordMapping, SourceConfig
from pixelated.ingest.conversation import make_turn, map_role
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


def record_to_item(record, number: int, mapping: RecordMapping, ctx: FileContext) -> Item:
    """One source record to a canonical row, or a rejection saying what is wrong with it."""
    excerpt = json.dumps(record, ensure_ascii=False, default=str)[:200]
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
        except ValueError as err:
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
    for number, record in records:
        yield record_to_item(record, number, mapping, ctx)


def _jsonl(path: Path, mapping: RecordMapping, ctx: FileContext) -> Iterator[Item]:
    if rejection := empty_file(path, ctx):
        yield rejection
        return
    for number, line in decode_lines(path, ctx):
        if not isinstance(line, str):
            yield line
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield ctx.reject("invalid_json", f"{err.msg} at column {err.colno}", number, line)
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
    """A JSON array of records (e.g. ESConv.json), streamed with ijson so size is no limit.

    A syntax error ends the file: everything from that record on is one rejection.
    """
    if rejection := empty_file(path, ctx):
        yield rejection
        return
    mapping = source.mapping
    number = 0
    with open(path, "rb") as handle:
        try:
            for number, record in enumerate(ijson.items(handle, "item", use_float=True), 1):
                yield record_to_item(record, number, mapping, ctx)
        except (ijson.JSONError, UnicodeDecodeError) as err:
            detail = f"unreadable JSON after record {number}: {err}"
            yield ctx.reject("invalid_json", detail, number + 1)
            return
    if number == 0:
        yield ctx.reject("empty_file", "no records in the JSON array (or not an array)", None)


@register("parquet")
def read_parquet(path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext) -> Iterator[Item]:
    """Parquet with nested turns, read batch by batch."""
    batches = pq.ParquetFile(path).iter_batches(options.batch_size)
    rows = (row for batch in batches for row in batch.to_pylist())
    yield from _map_records(enumerate(rows, 1), source.mapping, ctx)


@register("hf_dataset")
def read_hf_dataset(
    path: Path, source: SourceConfig, options: ReadOptions, ctx: FileContext
) -> Iterator[Item]:
    """A Hugging Face dataset directory written by `save_to_disk` (Dataset or DatasetDict).

    The split of a DatasetDict becomes `source_split` unless the mapping names a split field.
    """
    import datasets  # heavy import, only for sources that need it

    loaded = datasets.load_from_disk(str(path))
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, dataset in sorted(splits, key=lambda item: item[0] or ""):
        split_ctx = replace(ctx, relpath=f"{ctx.relpath}/{split}") if split else ctx
        for item in _map_records(enumerate(dataset, 1), source.mapping, split_ctx):
            if split and isinstance(item, dict) and item["source_split"] is None:
                item["source_split"] = split
            yield item
