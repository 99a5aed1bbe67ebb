"""export: write the curated splits as JSONL, Parquet, CSV, Hugging Face, OpenAI chat and TFRecord.

Every writer reads the split files a batch at a time: none holds a split."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pixelated.core.config import Config
from pixelated.core.schema import SPLITS
from pixelated.core.tableio import count_rows
from pixelated.export.config import ExportConfig
from pixelated.export.writers import WRITERS, dataset_version

log = logging.getLogger(__name__)


class ExportStageConfig(Config):
    export: ExportConfig


@dataclass(frozen=True)
class ExportPaths:
    splits: Path  # folder holding <split>.parquet
    output: Path  # one folder per format
    metrics: Path


def run(cfg: ExportStageConfig, paths: ExportPaths) -> None:
    split_files = {name: paths.splits / f"{name}.parquet" for name in SPLITS}
    stats = export_all(split_files, paths.output, cfg.export)
    paths.metrics.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")


def export_all(split_files: dict[str, Path], out: Path, cfg: ExportConfig) -> dict:
    """Write every configured format under out/<format>/; returns stats for reports/export.json."""
    version = dataset_version(split_files)
    stats = {
        "dataset_version": version["dataset_version"],
        "rows": {name: count_rows(path) for name, path in split_files.items()},
    }
    for fmt in cfg.formats:
        target = out / fmt
        target.mkdir(parents=True, exist_ok=True)
        result = WRITERS[fmt](split_files, target, cfg, version)
        (target / "VERSION.json").write_text(json.dumps(version, indent=2, sort_keys=True) + "\n")
        if result:
            stats[fmt] = result
        log.info("exported %s to %s", fmt, target)
    return stats
