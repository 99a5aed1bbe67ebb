"""The dedup report section (reports/dedup.json): counts, example clusters, templated replies.

Reported by id, hash, word count and source, never by text: the report is git-tracked.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from pixelated.core.schema import DEDUP_METHODS
from pixelated.dedup.cascade import DedupResult
from pixelated.dedup.config import DedupConfig, TemplatedConfig


def templated_replies(features: pd.DataFrame, cfg: TemplatedConfig) -> dict:
    """Helper turns repeated (after normalization) across many conversations, with counts."""
    exploded = features[["conversation_id", "source", "helper_keys", "helper_words"]].explode(
        ["helper_keys", "helper_words"]
    )
    exploded = exploded.dropna(subset=["helper_keys"])
    exploded = exploded[exploded["helper_words"].astype(int) >= cfg.min_words]
    per_key = exploded.drop_duplicates(["helper_keys", "conversation_id"]).groupby("helper_keys")
    counts = per_key["conversation_id"].size()
    templated = counts[counts >= cfg.min_conversations].sort_index()
    ranked = templated.sort_values(ascending=False, kind="stable").head(cfg.top)
    words = exploded.drop_duplicates("helper_keys").set_index("helper_keys")["helper_words"]
    sources = per_key["source"].agg(lambda s: dict(sorted(Counter(s).items())))
    in_templated = exploded[exploded["helper_keys"].isin(templated.index)]["conversation_id"].nunique()
    return {
        "min_conversations": cfg.min_conversations,
        "min_words": cfg.min_words,
        "templated_replies": len(templated),
        "conversations_with_templated_reply": int(in_templated),
        "top": [
            {"reply_key": key, "conversations": int(n), "words": int(words[key]), "sources": sources[key]}
            for key, n in ranked.items()
        ],
    }


def example_clusters(clusters: pd.DataFrame, removed: pd.DataFrame, per_method: int) -> dict:
    """The largest clusters (then by id) that removed a conversation by each method."""
    sizes = clusters.groupby("cluster_id").size()
    examples = {}
    for method in DEDUP_METHODS:
        hit = removed[removed["method"] == method]["cluster_id"].unique()
        chosen = sorted(hit, key=lambda c: (-int(sizes[c]), c))[:per_method]
        examples[method] = [
            {
                "cluster_id": c,
                "members": clusters[clusters["cluster_id"] == c][
                    ["conversation_id", "source", "kept", "method"]
                ]
                .astype({"kept": bool})
                .to_dict("records"),
            }
            for c in chosen
        ]
    return examples


def summarize(result: DedupResult, features: pd.DataFrame, cfg: DedupConfig) -> dict:
    """The dedup report section: counts by method and source, LSH settings, example clusters."""
    clusters = result.clusters.assign(source=features["source"].to_numpy())
    removed = clusters[~clusters["kept"]]
    source_of = dict(zip(clusters["conversation_id"], clusters["source"], strict=True))
    cross = Counter(
        f"{source_of[k]} <- {s}" for k, s in zip(removed["kept_id"], removed["source"], strict=True)
    )
    sizes = clusters.groupby("cluster_id").size()
    groups = clusters.groupby("group_id").size()
    return {
        "rows_in": len(clusters),
        "rows_out": int(clusters["kept"].sum()),
        "removed": {m: int((removed["method"] == m).sum()) for m in DEDUP_METHODS},
        "removed_by_source": {f"kept {k}": int(n) for k, n in sorted(cross.items())},
        "clusters_with_duplicates": int((sizes > 1).sum()),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "groups_with_several_conversations": int((groups > 1).sum()),
        "keep_policy": cfg.keep,
        **result.stats,
        "examples": example_clusters(clusters, removed, cfg.examples),
        "templated": templated_replies(features, cfg.templated),
    }
