"""split: group-aware 70/15/15 splits stratified by source and quality tier, plus CV folds."""

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

from pixelated.filters import canonical_schema
from pixelated.ledger import Ledger
from pixelated.schema import CONVERSATION_SCHEMA, SPLIT_ASSIGNMENT_SCHEMA, SplitAssignmentSchema
from pixelated.split import SPLITS, leakage, make_splits, proportions
from pixelated.stage import load_params, setup_logging
from pixelated.tableio import ValidatedWriter, read_batches, to_pandas

KEY_COLUMNS = ["conversation_id", "source", "thread_id", "content_hash"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path, help="folder for <split>.parquet")
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg = params["split"]

    # select adds quality_tier; split stratifies by source x tier (see pixelated.split)
    tier = ["quality_tier"] if "quality_tier" in pq.read_schema(args.input).names else []
    keys = to_pandas(pq.read_table(args.input, columns=KEY_COLUMNS + tier))
    assignments = make_splits(
        keys, list(cfg["fractions"]), int(cfg["seed"]), int(cfg["cv_folds"]), int(cfg["cv_below"])
    )
    args.output.mkdir(parents=True, exist_ok=True)
    with ValidatedWriter(
        args.output / "assignments.parquet", SPLIT_ASSIGNMENT_SCHEMA, SplitAssignmentSchema
    ) as w:
        w.write(assignments)

    split_of = assignments.set_index("conversation_id")["split"]
    ledger = Ledger("split")
    schema = canonical_schema(int(params["validate"]["max_turn_chars"]))
    writers = {
        name: ValidatedWriter(args.output / f"{name}.parquet", CONVERSATION_SCHEMA, schema) for name in SPLITS
    }
    for batch in read_batches(args.input, int(params["executor"]["batch_size"])):
        batch = batch[CONVERSATION_SCHEMA.names]  # splits hold the canonical columns only
        ledger.count_frame_in(batch)
        side = batch["conversation_id"].map(split_of)
        for name, writer in writers.items():
            part = batch[side == name].reset_index(drop=True)
            writer.write(part)
            ledger.count_frame_out(part)
    for writer in writers.values():
        writer.close()
    ledger.write(args.ledger)

    metrics = {
        "conversations": {name: writers[name].rows for name in SPLITS},
        "proportions": proportions(assignments, keys),
        "leakage": leakage(assignments, keys),
        "cv_folds": int(assignments["fold"].nunique()),
        "groups": int(assignments["group"].nunique()),
    }
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
