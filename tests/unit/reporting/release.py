"""Checks that a dataset card describes the data actually released: the rows of every split
file and of every export, counted here with each format's own reader (not the report's
counters). The end-to-end pipeline test calls these on a real run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.hashing import dvc_md5, file_md5
from pixelated.core.schema import SPLITS
from pixelated.reporting.card import released_counts


def _jsonl_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if json.loads(line))


def _export_rows(fmt: str, folder: Path, split: str) -> int:
    """Conversations in one exported split, read the way a user of that format would."""
    if fmt in ("jsonl", "openai"):
        return _jsonl_rows(folder / f"{split}.jsonl")
    if fmt == "parquet":
        return pq.read_table(folder / f"{split}.parquet").num_rows
    if fmt == "csv":
        return pd.read_csv(folder / f"{split}.csv", keep_default_na=False)["conversation_id"].nunique()
    if fmt == "hf":
        import datasets

        return len(datasets.load_from_disk(str(folder))[split])
    if fmt == "tfrecord":
        from tfrecord.reader import tfrecord_loader

        return sum(1 for _ in tfrecord_loader(str(folder / f"{split}.tfrecord"), None))
    raise AssertionError(f"no reader for export format {fmt!r}")


def assert_card_describes_release(card_text: str, splits: Path, export: Path) -> dict:
    """Every count and hash the card states equals the files under `splits` and `export`;
    returns the card's machine-readable block."""
    released = released_counts(card_text)
    total = 0
    for name in SPLITS:
        path = splits / f"{name}.parquet"
        table = pq.read_table(path, columns=["source"])
        stated = released["splits"][name]
        assert stated["conversations"] == table.num_rows, name
        assert stated["by_source"] == dict(Counter(table["source"].to_pylist())), name
        assert stated["md5"] == file_md5(path) and f"| `{stated['file']}` | `{stated['md5']}` |" in card_text
        total += table.num_rows
    assert f"releases **{total}** conversations" in card_text
    formats = sorted(p.name for p in export.iterdir() if p.is_dir())
    assert sorted(released["exports"]) == formats
    for fmt in formats:
        stated = released["exports"][fmt]
        assert stated["md5"] == dvc_md5(export / fmt), fmt
        assert stated["conversations"] == {name: _export_rows(fmt, export / fmt, name) for name in SPLITS}, (
            fmt
        )
    return released


def assert_summary_names_quarantine(summary_text: str, quarantine: list[Path]) -> None:
    """The summary sends readers to the quarantine files the stages wrote, and to no other place."""
    for path in quarantine:
        assert f"`{path.as_posix()}`" in summary_text, path
    named = summary_text.split("(see ", 1)[1].split(").", 1)[0]
    assert named == ", ".join(f"`{path.as_posix()}`" for path in quarantine)
