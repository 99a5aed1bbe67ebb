"""The report describes the released data: small splits written with the pipeline's writers,
exported by the real export, then reported; the card's counts must be the files' rows."""

import json
from pathlib import Path

import mlflow
import pytest

from pixelated.core import resources
from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Ledger, row_rejection
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLITS
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.export.export import ExportStageConfig, export_all
from pixelated.ingest.conversation import SourceInfo, make_conversation, make_turn
from pixelated.reporting.headline import HEADLINE_KEYS
from pixelated.reporting.report import ReportPaths, ReportStageConfig, run
from tests.conftest import frame
from tests.paths import REPO
from tests.unit.reporting.release import assert_card_describes_release, assert_summary_names_quarantine

SIZES = {"train": 5, "validation": 2, "test": 3}
DROPPED = 2  # rows select drops in this made-up funnel
# made-up stage reports, with the keys the headline and the HTML report read
QUALITY = {
    "agreement": {"rejected_vs_accepted": {"auc": 0.7}},
    "crisis": {"detector": {"precision": {"value": 0.9, "n": 10}, "recall": {"value": 0.8, "n": 11}}},
    "by_source": {"a": {"n": 10, "p10": 0.5, "p25": 0.6, "p50": 0.7, "p75": 0.8, "p90": 0.9, "mean": 0.7}},
}
SELECT = {"would_keep_at_tier": {"minimum": 12, "recommended": 10, "production": 3}}
HOSTILE = '<script>alert("x")</script>'  # a group name is data: the page must show it as text
SELECT["bias"] = {
    "topic": {"overall_keep_rate": 0.5, "groups": {HOSTILE: {"n": 3, "keep_rate": 0.2, "flagged": True}}}
}
MEMBER = {"conversation_id": "x1", "source": "a", "method": "exact", "kept": False}
DEDUP = {
    "removed": {"exact": 1},
    "examples": {
        "exact": [
            {
                "cluster_id": "c1",
                "members": [{"conversation_id": "x1", "source": "a", "method": "exact", "kept": False}],
            }
        ]
    },
}
FIGURE = {"mean": 0.5, "ci95": [0.4, 0.6]}
EVALUATION = {
    "test": {"finetuned": {"recall_at_1": 0.5}},
    "curation_gain_recall_at_1": 0.25,
    "ablation": {
        "curated": {
            arm: {"recall_at_1": FIGURE, "mrr": FIGURE}
            for arm in ("curated", "random_subset", "passed_dedup")
        }
    },
}
# reports/resources.json as stages leave it; the report's own entry is from its previous run
DEDUP_COST = {
    "wall_s": 12.5,
    "cpu_s": 20.1,
    "peak_rss_mb": 812.4,
    "rows_in": 100,
    "rows_out": 90,
    "rows_per_s": 8.0,
}
RESOURCES = {
    "dedup": {**DEDUP_COST, "finished": "2026-01-01T00:00:00+00:00"},
    "report": {"wall_s": 3.0, "cpu_s": 2.0, "peak_rss_mb": 300.0, "finished": "2026-01-01T00:00:00+00:00"},
}


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
    (root / "quality.json").write_text(json.dumps(QUALITY))
    (root / "select.json").write_text(json.dumps(SELECT))
    (root / "eval.json").write_text(json.dumps(EVALUATION))
    (root / "dedup.json").write_text(json.dumps(DEDUP))
    (root / "plots").mkdir()
    (root / "plots" / "recall_at_k.csv").write_text("k,finetuned,tfidf\n1,0.5,0.2\n5,0.8,0.4\n")
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
        select_metrics=root / "select.json",
        eval_metrics=root / "eval.json",
        dedup_metrics=root / "dedup.json",
        metrics=root / "metrics.json",
        summary=root / "summary.md",
        plots=root / "plots",
        card=root / "card.md",
        headline=root / "headline.json",
        html=root / "report.html",
    )
    (root / "resources.json").write_text(json.dumps(RESOURCES))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(resources.RESOURCES_ENV, str(root / "resources.json"))
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


def test_headline_holds_the_few_numbers_an_experiment_is_judged_by(reported):
    headline = json.loads(reported.headline.read_text())
    assert list(headline) == list(HEADLINE_KEYS)
    assert headline["kept"] == SELECT["would_keep_at_tier"]
    # kept per source: the select ledger's rows out (the first source lost the dropped rows)
    assert sum(headline["kept_by_source"].values()) == sum(SIZES.values())
    assert headline["agreement_auc"] == 0.7 and headline["crisis"] == {"precision": 0.9, "recall": 0.8}
    assert headline["pii_recall"] is None  # the made-up benchmark planted nothing
    assert headline["leakage"] == 0
    assert (headline["recall_at_1"], headline["curation_gain"]) == (0.5, 0.25)


def test_report_page_is_self_contained_and_escapes_data(reported):
    page = reported.html.read_text()
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:' in page
    assert "<script" not in page and HOSTILE not in page
    assert page.count('<img src="data:image/svg+xml;base64,') >= 5
    for section in ("funnel", "scores", "bias", "pii", "dedup", "eval"):
        assert f'<section id="{section}"' in page
    assert 'src="http' not in page and "url(" not in page  # nothing fetched from anywhere
    assert "<td>x1</td>" in page  # a dedup example, by id
    assert page.count("<td>0.500 [0.400, 0.600]</td>") == 6  # the curation ablation, per arm
    assert (reported.plots / "funnel.csv").read_text().splitlines()[:2] == [
        "stage,conversations",
        "ingest,12",
    ]
    assert (reported.plots / "pii_replaced.csv").read_text() == "entity,replaced\nPERSON,2\n"


def test_stage_costs_go_to_the_mlflow_run_and_no_dvc_output(reported):
    """Issue 14, item 5: every other stage's time, memory and rows/s from reports/resources.json
    are metrics of the report's MLflow run; the outputs DVC hashes stay free of them."""
    client = mlflow.MlflowClient(f"sqlite:///{reported.metrics.parent / 'mlflow.db'}")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    logged = {
        k.removeprefix("resources."): v for k, v in run.data.metrics.items() if k.startswith("resources.")
    }
    assert logged == {f"dedup.{k}": v for k, v in DEDUP_COST.items()}
    for output in (reported.metrics, reported.summary, reported.card, reported.headline, reported.html):
        assert "812.4" not in output.read_text() and "peak_rss" not in output.read_text()
