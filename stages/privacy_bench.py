"""privacy_bench: plant generated PII into real turns, score the anonymizer's detector.

Writes recall/precision per entity type and the over-redaction count to reports/privacy.json
(a DVC metric). Reads data/raw/validated.parquet only for carrier turns; no text is written.
"""

import argparse
import json
import logging
import random
from pathlib import Path

import pyarrow.parquet as pq

from pixelated.core.runner import load_params, setup_logging
from pixelated.privacy import privacy_bench

MIN_WORDS, MAX_CHARS = 5, 400  # carriers: real sentences, not one-word acknowledgements


def carriers(path: Path, limit: int, seed: int) -> list[str]:
    """Up to `limit` real turn texts, drawn by seed from every turn in the table."""
    texts = sorted(
        {
            turn["text"]
            for row in pq.read_table(path, columns=["turns"]).to_pylist()
            for turn in row["turns"]
            if turn["text"] and len(turn["text"].split()) >= MIN_WORDS and len(turn["text"]) <= MAX_CHARS
        }
    )
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg = params["privacy"]
    texts = carriers(args.input, int(cfg["bench"]["max_carriers"]), int(cfg["bench"]["seed"]))
    result = privacy_bench.run(texts, cfg["analyzer"], cfg["bench"])
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    logging.getLogger("pixelated").info(
        "privacy_bench: precision %.4f, targets met: %s", result["precision"], result["targets"]["met"]
    )


if __name__ == "__main__":
    main()
