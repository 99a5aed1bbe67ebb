"""Read every configured source in data/raw into the canonical conversation table.

Readers yield rows or rejections one at a time; rows are written in batches, so memory
stays flat whatever the file size. Sources and files are read in sorted order, so the
output is byte-identical run to run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from pixelated.core.hashing import sha256_file
from pixelated.core.ledger import Ledger, Rejection
from pixelated.core.runner import progress
from pixelated.core.schema import CONVERSATION_SCHEMA, IngestedSchema
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter
from pixelated.ingest.conversation import DEFAULT_ROLE_MAP, SourceInfo
from pixelated.ingest.readers import FileContext, get_reader

log = logging.getLogger(__name__)

WARN_LIMIT = 20  # rejections logged one by one at WARNING; the rest at DEBUG


def source_files(raw_dir: Path, name: str, cfg: dict) -> list[Path]:
    """The files of one source to read, from its `read` globs; a glob matching nothing is a config error."""
    root = raw_dir / name
    paths = []
    for pattern in cfg["read"]:
        matched = sorted(root.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"source {name!r}: read pattern {pattern!r} matches nothing in {root}")
        paths.extend(matched)
    return paths


def read_source(raw_dir: Path, name: str, cfg: dict, ingest_cfg: dict) -> Iterator[dict | Rejection]:
    """Every row or rejection of one source. A reader that fails unexpectedly costs the rest
    of that file (one rejection saying so), never the run."""
    source = SourceInfo.from_config(name, cfg)
    reader = get_reader(cfg["format"])
    role_map = {**DEFAULT_ROLE_MAP, **{k.lower(): v for k, v in (cfg.get("role_map") or {}).items()}}
    for path in source_files(raw_dir, name, cfg):
        ctx = FileContext(
            source=source,
            relpath=path.relative_to(raw_dir).as_posix(),
            sha256=sha256_file(path) if path.is_file() else "0" * 64,
            role_map=role_map,
            pseudonymize=tuple(cfg.get("pseudonymize") or ()),
        )
        try:
            yield from reader(path, {**ingest_cfg, **cfg}, ctx)
        except Exception as err:  # one bad file must not stop the others
            log.exception("reader %s failed on %s", cfg["format"], ctx.relpath)
            yield ctx.reject("reader_error", f"{type(err).__name__}: {err}; rest of file skipped", None)


def run_ingest(
    raw_dir: Path, sources: dict, ingest_cfg: dict, output: Path, quarantine_path: Path, ledger_path: Path
) -> Ledger:
    ledger = Ledger("ingest")
    batch_size = int(ingest_cfg.get("batch_size", 2000))
    # A sample (first N kept rows per source) for quick runs and CI; unread rows are not counted.
    limit = ingest_cfg.get("max_per_source")
    seen: set[str] = set()
    batch: list[dict] = []
    with (
        ValidatedWriter(output, CONVERSATION_SCHEMA, IngestedSchema) as writer,
        QuarantineWriter(quarantine_path, "ingest") as quarantine,
    ):
        for name, cfg in sorted(sources.items()):
            for item in progress(read_source(raw_dir, name, cfg, ingest_cfg), f"ingest {name}", unit="conv"):
                if limit is not None and ledger.by_source.get(name, {}).get("out", 0) >= limit:
                    log.info("sample: stopped reading %s after %d conversations", name, limit)
                    break
                ledger.count_in(source=name)
                if isinstance(item, dict) and item["conversation_id"] in seen:
                    item = Rejection(
                        reason="duplicate_record_id",
                        detail=f"record id {item['source_record_id']!r} already read",
                        source=name,
                        source_file=item["source_file"],
                        source_line=item["source_line"],
                        conversation_id=item["conversation_id"],
                    )
                if isinstance(item, Rejection):
                    ledger.count_drop(item.reason, source=name)
                    level = logging.WARNING if sum(ledger.dropped.values()) <= WARN_LIMIT else logging.DEBUG
                    log.log(level, "quarantined %s", item.describe())
                    quarantine.add([item])
                    continue
                seen.add(item["conversation_id"])
                ledger.count_out(source=name)
                batch.append(item)
                if len(batch) >= batch_size:
                    writer.write_records(batch)
                    batch = []
        writer.write_records(batch)
    ledger.write(ledger_path)
    return ledger
