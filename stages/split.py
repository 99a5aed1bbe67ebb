"""split: group-aware 70/15/15 splits stratified by source and quality tier, plus CV folds."""

import argparse
import json
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.executor import map_batches
from pixelated.core.ledger import Ledger
from pixelated.core.runner import load_params, setup_logging
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLIT_ASSIGNMENT_SCHEMA, SPLITS, SplitAssignmentSchema
from pixelated.core.tableio import ValidatedWriter, read_batches, to_pandas
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import conversation_features, near_duplicate_pairs
from pixelated.selection.split import leakage, make_splits, near_duplicate_leakage, proportions

KEY_COLUMNS = ["conversation_id", "source", "thread_id", "content_hash"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path, help="folder for <split>.parquet")
    parser.add_argument("--clusters", required=True, type=Path, help="dedup cluster table (group_id)")
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg = params["split"]

    # select adds quality_tier; split stratifies by source x tier (see pixelated.selection.split)
    tier = ["quality_tier"] if "quality_tier" in pq.read_schema(args.input).names else []
    keys = to_pandas(pq.read_table(args.input, columns=KEY_COLUMNS + tier))
    clusters = to_pandas(pq.read_table(args.clusters, columns=["conversation_id", "group_id"]))
    assignments = make_splits(
        keys,
        list(cfg["fractions"]),
        int(cfg["seed"]),
        int(cfg["cv_folds"]),
        int(cfg["cv_below"]),
        cluster_groups=clusters.set_index("conversation_id")["group_id"],
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
        "leakage": {
            **leakage(assignments, keys),
            "near_duplicate_pairs_across_splits": near_leakage(args.input, assignments, params),
        },
        "cv_folds": int(assignments["fold"].nunique()),
        "groups": int(assignments["group"].nunique()),
    }
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def near_leakage(path: Path, assignments: pd.DataFrame, params: dict) -> int:
    """Near-duplicate pairs (dedup's MinHash LSH + Jaccard check) split across sides."""
    executor = params["executor"]
    features = pd.concat(
        map_batches(
            partial(conversation_features, near=params["dedup"]["near"]),
            read_batches(path, int(executor["batch_size"])),
            kind=executor.get("kind", "local"),
            workers=int(executor.get("workers", 1)),
        ),
        ignore_index=True,
    )
    if features.empty:
        return 0
    pairs, _ = near_duplicate_pairs(features, params["dedup"]["near"])
    ids = features["conversation_id"].to_numpy()
    return near_duplicate_leakage(assignments, [(ids[a], ids[b]) for a, b in pairs])


if __name__ == "__main__":
    main()
