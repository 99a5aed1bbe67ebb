"""report: DVC metrics, plot data, a markdown summary and the dataset card of the released data
(splits and exports) with the ledger funnel that led to it; logged to MLflow."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.reporting import report


def main() -> None:
    paths, params = stage_args(__doc__, report.ReportPaths)
    report.run(load_config(report.ReportStageConfig, params), paths)


if __name__ == "__main__":
    main()
