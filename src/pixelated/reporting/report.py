"""report: DVC metrics, plot data, a markdown summary and the dataset card of the released data
(the splits and their exports), with the ledger funnel that led to it; logged to MLflow."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from pixelated.core import resources
from pixelated.core.config import Config, ExecutorConfig, MlflowConfig, ValidateConfig
from pixelated.core.hashing import file_md5
from pixelated.core.schema import SPLITS
from pixelated.reporting import html, summary
from pixelated.reporting.card import describe_release, render_dataset_card
from pixelated.reporting.config import IngestScope, ReportConfig, SourceTerms
from pixelated.reporting.headline import headline
from pixelated.reporting.tracking import log_stage_run

log = logging.getLogger(__name__)
SEVERAL = {"nargs": "+"}


class ReportStageConfig(Config):
    report: ReportConfig
    sources: dict[str, SourceTerms]
    ingest: IngestScope
    mlflow: MlflowConfig
    # the settings that shaped the released data, logged with the run; their own stages check them
    acquire: dict[str, Any]
    validate_: ValidateConfig = Field(alias="validate")
    privacy: dict[str, Any]
    dedup: dict[str, Any]
    filter_length: dict[str, Any]
    quality: dict[str, Any]
    safety: dict[str, Any]
    review: dict[str, Any]
    split: dict[str, Any]
    export: dict[str, Any]
    executor: ExecutorConfig = ExecutorConfig()


@dataclass(frozen=True)
class ReportPaths:
    splits: Path  # folder of the released <split>.parquet tables
    export: Path  # folder with one sub-folder per export format
    export_metrics: Path  # export stage report (dataset version, conversations a format dropped)
    split_metrics: Path  # split stage report (groups, folds, leakage checks)
    ledger: list[Path] = field(metadata=SEVERAL)  # every stage's ledger, in pipeline order
    quarantine: list[Path] = field(metadata=SEVERAL)  # every quarantine table
    privacy: Path  # privacy benchmark
    anonymize_metrics: Path  # what anonymize replaced
    quality: Path  # score stage report (agreement, distributions)
    select_metrics: Path  # select stage report (kept per tier, keep rates by group)
    eval_metrics: Path  # evaluate stage report (recall@k, curation gain)
    dedup_metrics: Path  # dedup stage report (removed per method, example clusters)
    metrics: Path
    summary: Path
    plots: Path  # folder for plot CSVs
    card: Path  # dataset card (markdown)
    headline: Path  # the one DVC metrics file: a few numbers per experiment
    html: Path  # one self-contained page of plots and tables (reporting.html)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _write_headline(paths: ReportPaths, ledgers: list[dict]) -> None:
    select_ledger = next((ledger for ledger in ledgers if ledger.get("stage") == "select"), {})
    values = headline(
        select=_read_json(paths.select_metrics),
        select_ledger=select_ledger,
        quality=_read_json(paths.quality),
        privacy=_read_json(paths.privacy),
        split=_read_json(paths.split_metrics),
        evaluation=_read_json(paths.eval_metrics),
    )
    paths.headline.write_text(json.dumps(values, indent=2) + "\n")


def write_page(paths: ReportPaths, ledgers: list[dict], tiers: dict[str, float]) -> None:
    """reports/report.html, and the plot CSVs `dvc plots` shows of the same funnel and PII."""
    inputs = html.ReportInputs(
        ledgers=ledgers,
        quality=_read_json(paths.quality),
        select=_read_json(paths.select_metrics),
        anonymize=_read_json(paths.anonymize_metrics),
        privacy=_read_json(paths.privacy),
        dedup=_read_json(paths.dedup_metrics),
        evaluation=_read_json(paths.eval_metrics),
        tiers=tiers,
        plots={name: _csv_rows(paths.plots / f"{name}.csv") for name in html.EVAL_PLOTS},
    )
    paths.html.write_text(html.render(inputs))
    funnel = [(ledger["stage"], ledger["rows_out"]) for ledger in ledgers]
    summary.write_plot_csv(paths.plots / "funnel.csv", ("stage", "conversations"), funnel)
    replaced = sorted(inputs.anonymize.get("entities_replaced", {}).items())
    summary.write_plot_csv(paths.plots / "pii_replaced.csv", ("entity", "replaced"), replaced)


def _csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run(cfg: ReportStageConfig, paths: ReportPaths) -> None:
    release = describe_release(paths.splits, paths.export, _read_json(paths.export_metrics))
    split_files = [paths.splits / f"{name}.parquet" for name in SPLITS]
    stats = summary.table_stats(split_files, cfg.report.words_bin)
    ledgers = summary.load_ledgers(paths.ledger)
    metrics = summary.build_metrics(stats, ledgers, release)
    privacy = summary.privacy_metrics(_read_json(paths.privacy), _read_json(paths.anonymize_metrics))
    metrics["privacy"] = privacy
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    histograms = stats["histograms"]
    summary.write_plot_csv(
        paths.plots / "turns_per_conversation.csv", ("n_turns", "conversations"), histograms["turns"]
    )
    summary.write_plot_csv(paths.plots / "words_per_turn.csv", ("words", "turns"), histograms["words"])
    quarantine = summary.quarantine_counts(paths.quarantine)
    paths.summary.write_text(
        summary.render_summary(metrics, ledgers, quarantine, paths.quarantine, release, cfg.sources, privacy)
    )
    card = render_dataset_card(
        release,
        ledgers,
        cfg.sources,
        export_stats=_read_json(paths.export_metrics),
        split_stats=_read_json(paths.split_metrics),
        quarantine_files=paths.quarantine,
        ledger_hashes={path.as_posix(): file_md5(path) for path in paths.ledger},
        quality=_read_json(paths.quality),
        max_per_source=cfg.ingest.max_per_source,
    )
    paths.card.write_text(card)
    _write_headline(paths, ledgers)
    write_page(paths, ledgers, cfg.quality.get("tiers") or {})
    log.info("report: %d conversations released", metrics["conversations"])

    # what each other stage's latest run cost (this one's entry is written as it exits): in the
    # MLflow run only, never in a DVC out, since the numbers differ on every run
    cost = {stage: entry for stage, entry in resources.read().items() if stage != "report"}
    log_stage_run(
        "report",
        cfg.mlflow,
        params=cfg.model_dump(by_alias=True, exclude={"mlflow", "sources"}),
        metrics={**metrics, "resources": cost},
        inputs=[paths.splits, paths.export, *paths.ledger],
        artifacts=[paths.metrics, paths.summary, paths.card],
    )
