"""export: write the curated splits as JSONL, Parquet, CSV, Hugging Face, OpenAI chat and TFRecord."""

import argparse
import json
from pathlib import Path

from pixelated.core.runner import load_params, setup_logging
from pixelated.core.schema import SPLITS
from pixelated.export.writers import export_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", required=True, type=Path, help="folder holding <split>.parquet")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    split_files = {name: args.splits / f"{name}.parquet" for name in SPLITS}
    stats = export_all(split_files, args.output, params["export"])
    args.metrics.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
