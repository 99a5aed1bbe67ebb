"""dedup: remove exact, near (MinHash LSH) and semantic (MiniLM) duplicate conversations."""

import argparse
import json
from pathlib import Path

import pandas as pd

from pixelated.core.embed import EmbeddingCache
from pixelated.core.executor import map_batches
from pixelated.core.ledger import Ledger, row_rejection
from pixelated.core.runner import load_params, setup_logging
from pixelated.core.schema import CONVERSATION_SCHEMA, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter, read_batches
from pixelated.core.validation import canonical_schema
from pixelated.dedup.cascade import features_fn, find_duplicates, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("input", "output", "clusters", "quarantine", "ledger", "report", "cache", "cache_stats"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg, executor = params["dedup"], params["executor"]
    batch_size = int(executor["batch_size"])

    features = pd.concat(
        map_batches(
            features_fn(cfg),
            read_batches(args.input, batch_size),
            kind=executor["kind"],
            workers=int(executor["workers"]),
        ),
        ignore_index=True,
    )
    # the cache is a persistent DVC out: loaded, extended, and pruned to the texts in use
    cache = EmbeddingCache(args.cache, batch_size=int(cfg["semantic"]["batch_size"]))
    result = find_duplicates(features, cfg, cache)
    clusters = result.clusters

    with ValidatedWriter(args.clusters, DEDUP_CLUSTER_SCHEMA, DedupClusterSchema) as writer:
        writer.write(clusters)

    decision = clusters.set_index("conversation_id")
    ledger = Ledger("dedup")
    schema = canonical_schema(int(params["validate"]["max_turn_chars"]))
    with (
        ValidatedWriter(args.output, CONVERSATION_SCHEMA, schema) as writer,
        QuarantineWriter(args.quarantine, "dedup") as quarantine,
    ):
        for batch in read_batches(args.input, batch_size):
            ledger.count_frame_in(batch)
            rows = decision.loc[batch["conversation_id"]]
            keep = rows["kept"].to_numpy()
            kept = batch[keep].reset_index(drop=True)
            writer.write(kept)
            ledger.count_frame_out(kept)
            rejections = [
                row_rejection(
                    row,
                    f"duplicate_{info.method}",
                    f"{info.method} duplicate of {info.kept_id} (cluster {info.cluster_id})",
                )
                for (_, row), info in zip(batch[~keep].iterrows(), rows[~keep].itertuples(), strict=True)
            ]
            for rejection in rejections:
                ledger.count_drop(rejection.reason, source=rejection.source)
            quarantine.add(rejections)
    ledger.write(args.ledger)

    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(summarize(result, features, cfg), indent=2, sort_keys=True) + "\n")
    in_use = [*features["seeker_text"], *features["helper_text"]] if cfg["semantic"]["enabled"] else None
    cache.save(keep=in_use)
    # run history, not content: a re-run with unchanged input shows embedded == 0
    stats = {"semantic": cfg["semantic"]["enabled"], "cache_hits": cache.hits, "embedded": cache.misses}
    args.cache_stats.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
