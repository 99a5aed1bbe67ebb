"""The report describes the released data: small splits written with the pipeline's writers,
exported by the real export, then reported; the card's counts must be the files' rows."""

import json
from pathlib import Path

import pytest

from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Ledger, row_rejection
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLITS
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.export.export import ExportStageConfig, export_all
from pixelated.ingest.conversation import SourceInfo, make_conversation, make_turn
from pixelated.reporting.report import ReportPaths, ReportStageConfig, run
from tests.conftest import frame
from tests.paths import REPO
from tests.unit.reporting.release import assert_card_describes_release, assert_summary_names_quarantine

SIZES = {"train": 5, "validation": 2, "test": 3}
DROPPED = 2  # rows select drops in this made-up funnel


def _conversation(source: str, terms, index: int) -> dict:
    info = SourceInfo(source, terms.license, terms.commercial_use, terms.consent, terms.consent_basis)
    # the first conversation has no helper reply: the OpenAI export must drop it
    roles = ("seeker", "seeker") if index == 0 else ("seeker", "helper")
    turns = [make_turn(role, f"{role} turn {index} of {source}") for role in roles]
    return make_conversation(
        info,
        f"r{index}",
        turns,
        source_file=f"{source}/f.jsonl",
        source_line=index + 1,
        source_sha256="a" * 64,
    )


def _ledgers(rows: list[dict], dropped: list[dict], folder: Path) -> list[Path]:
    """ingest -> select -> split over the rows: select drops `dropped`, split keeps the rest."""
    paths = []
    for stage, rows_in, drops in (
        ("ingest", rows + dropped, []),
        ("select", rows + dropped, dropped),
        ("split", rows, []),
    ):
        ledger = Ledger(stage)
        for row in rows_in:
            ledger.count_in(1, row["source"])
        for row in rows_in:
            if row in drops:
                ledger.count_drop("low_safety", source=row["source"])
            else:
                ledger.count_out(1, row["source"])
        ledger.write(folder / f"{stage}.json")
        paths.append(folder / f"{stage}.json")
    return paths


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    params = read_params(REPO / "params.yaml")
    params["mlflow"] = {**params["mlflow"], "tracking_uri": f"sqlite:///{root / 'mlflow.db'}"}
    params["mlflow"]["artifact_location"] = str(root / "mlruns")
    cfg = build_config(ReportStageConfig, params)
    names = sorted(cfg.sources)[:3]
    rows = [_conversation(names[i % 3], cfg.sources[names[i % 3]], i) for i in range(sum(SIZES.values()))]
    dropped = [_conversation(names[0], cfg.sources[names[0]], 100 + i) for i in range(DROPPED)]
    check = canonical_schema(cfg.validate_.max_turn_chars)
    start = 0
    for name in SPLITS:
        with ValidatedWriter(root / "splits" / f"{name}.parquet", CONVERSATION_SCHEMA, check) as writer:
            writer.write(frame(rows[start : start + SIZES[name]]))
        start += SIZES[name]
    export_cfg = build_config(ExportStageConfig, params).export
    stats = export_all({n: root / "splits" / f"{n}.parquet" for n in SPLITS}, root / "export", export_cfg)
    (root / "export.json").write_text(json.dumps(stats))
    (root / "split.json").write_text(
        json.dumps({"groups": 10, "cv_folds": 0, "leakage": {"groups_across_splits": 0}})
    )
    (root / "privacy.json").write_text(
        json.dumps({"entities": {"PERSON": {"recall": 1.0}}, "precision": 0.9, "targets": {"met": True}})
    )
    (root / "anonymize.json").write_text(
        json.dumps(
            {"tokens_changed_ratio": 0.01, "entities_replaced": {"PERSON": 2}, "consent_required": False}
        )
    )
    (root / "quality.json").write_text(json.dumps({"score": {"mean": 0.6}}))
    quarantine = [root / "raw" / "quarantine" / "ingest.parquet", root / "quarantine" / "select.parquet"]
    with QuarantineWriter(quarantine[0], "ingest"):
        pass
    with QuarantineWriter(quarantine[1], "select") as writer:
        writer.add(row_rejection(row, "low_safety", "made up") for row in dropped)
    paths = ReportPaths(
        splits=root / "splits",
        export=root / "export",
        export_metrics=root / "export.json",
        split_metrics=root / "split.json",
        ledger=_ledgers(rows, dropped, root / "ledger"),
        quarantine=quarantine,
        privacy=root / "privacy.json",
        anonymize_metrics=root / "anonymize.json",
        quality=root / "quality.json",
        metrics=root / "metrics.json",
        summary=root / "summary.md",
        plots=root / "plots",
        card=root / "card.md",
    )
    run(cfg, paths)
    return paths


def test_card_counts_are_the_rows_of_every_split_and_export(reported):
    released = assert_card_describes_release(reported.card.read_text(), reported.splits, reported.export)
    assert {name: split["conversations"] for name, split in released["splits"].items()} == SIZES
    # the OpenAI export dropped the conversation without a reply, and the card says so
    assert sum(released["exports"]["openai"]["conversations"].values()) == sum(SIZES.values()) - 1
    assert "no_assistant_reply 1" in reported.card.read_text()


def test_metrics_describe_the_released_data(reported):
    metrics = json.loads(reported.metrics.read_text())
    assert metrics["conversations"] == sum(SIZES.values()) == metrics["ledger"]["split"]["rows_out"]
    assert metrics["splits"] == SIZES
    assert metrics["rows_quarantined"] == DROPPED
    assert sum(metrics["by_source"].values()) == metrics["conversations"]


def test_summary_names_the_quarantine_files_it_was_given(reported):
    summary = reported.summary.read_text()
    assert_summary_names_quarantine(summary, reported.quarantine)
    assert f"**{sum(SIZES.values())}** conversations" in summary


def test_card_shows_the_funnel_through_select_and_split(reported):
    card = reported.card.read_text()
    rows_in = sum(SIZES.values()) + DROPPED
    assert f"| select | {rows_in} | {sum(SIZES.values())} | {DROPPED} | low_safety: {DROPPED} |" in card
    assert f"| split | {sum(SIZES.values())} | {sum(SIZES.values())} | 0 | - |" in card
    assert "| source | ingest in | ingest | select | split |" in card
    for path in reported.quarantine:
        assert f"`{path.as_posix()}`" in card
