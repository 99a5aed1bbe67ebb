"""report: DVC metrics, plot data and a markdown summary of the run; logged to MLflow."""

import argparse
import json
import logging
from pathlib import Path

from pixelated.core.hashing import file_md5
from pixelated.core.runner import load_params, setup_logging
from pixelated.reporting import summary as report
from pixelated.reporting.tracking import log_stage_run

TRACKED_PARAMS = (
    "acquire",
    "ingest",
    "validate",
    "privacy",
    "dedup",
    "filter",
    "quality",
    "safety",
    "report",
    "executor",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path, help="final conversation table")
    parser.add_argument("--ledger", required=True, type=Path, nargs="+", help="ledgers, in pipeline order")
    parser.add_argument("--quarantine", required=True, type=Path, nargs="+")
    parser.add_argument(
        "--privacy",
        type=Path,
        nargs=2,
        metavar=("BENCH", "ANONYMIZE"),
        help="privacy benchmark, anonymize stats",
    )
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--plots", required=True, type=Path, help="folder for plot CSVs")
    parser.add_argument("--card", required=True, type=Path, help="dataset card (markdown)")
    parser.add_argument("--quality", type=Path, help="score stage report (agreement, distributions)")
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)

    stats = report.table_stats(args.input, int(params["report"]["words_bin"]))
    ledgers = report.load_ledgers(args.ledger)
    metrics = report.build_metrics(stats, ledgers)
    privacy = None
    if args.privacy:
        bench, anonymized = (json.loads(path.read_text()) for path in args.privacy)
        privacy = metrics["privacy"] = report.privacy_metrics(bench, anonymized)
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    report.write_plot_csv(
        args.plots / "turns_per_conversation.csv", ("n_turns", "conversations"), stats["histograms"]["turns"]
    )
    report.write_plot_csv(args.plots / "words_per_turn.csv", ("words", "turns"), stats["histograms"]["words"])
    quarantine = report.quarantine_counts(args.quarantine)
    args.summary.write_text(report.render_summary(metrics, ledgers, quarantine, params["sources"], privacy))
    quality = json.loads(args.quality.read_text()) if args.quality else None
    hashes = {path.as_posix(): file_md5(path) for path in [args.input, *args.ledger]}
    args.card.write_text(
        report.render_dataset_card(
            metrics, ledgers, params["sources"], hashes, quality, params["ingest"]["max_per_source"]
        )
    )
    logging.getLogger("pixelated").info("report: %d conversations", metrics["conversations"])

    log_stage_run(
        "report",
        params["mlflow"],
        params={k: params[k] for k in TRACKED_PARAMS},
        metrics=metrics,
        inputs=[args.input, *args.ledger],
        artifacts=[args.metrics, args.summary, args.card],
    )


if __name__ == "__main__":
    main()
