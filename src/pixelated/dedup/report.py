"""The dedup report section (reports/dedup.json): counts, example clusters, templated replies.

Reported by id, hash, word count and source, never by text: the report is git-tracked.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from pixelated.core.schema import DEDUP_METHODS
from pixelated.dedup.cascade import DedupResult
from pixelated.dedup.config import DedupConfig, TemplatedConfig
from pixelated.dedup.minhash import connect
from pixelated.dedup.store import Features


def templated_replies(table: Path, cfg: TemplatedConfig) -> dict:
    """Helper turns repeated (after normalization) across many conversations, with counts:
    SQL over the spilled helper-turn keys (`store.Features.table`), not a frame of them."""
    con = connect(threads=2)
    con.read_parquet(str(table)).create_view("spilled")
    con.execute(
        f"""
        CREATE TEMP TABLE turns AS SELECT DISTINCT conversation_id, source, key, words FROM (
            SELECT conversation_id, source, unnest(helper_keys) AS key, unnest(helper_words) AS words
            FROM spilled
        ) WHERE key IS NOT NULL AND words >= {int(cfg.min_words)};
        CREATE TEMP TABLE templated AS SELECT key, count(*) AS conversations, any_value(words) AS words
        FROM turns GROUP BY key HAVING count(*) >= {int(cfg.min_conversations)};
        CREATE TEMP TABLE top AS
        SELECT key, conversations, words FROM templated ORDER BY conversations DESC, key LIMIT {int(cfg.top)};
        """
    )
    count, in_templated = con.execute(
        "SELECT (SELECT count(*) FROM templated), count(DISTINCT conversation_id) "
        "FROM turns SEMI JOIN templated USING (key)"
    ).fetchone()
    top = con.execute("SELECT key, conversations, words FROM top ORDER BY conversations DESC, key").fetchall()
    sources: dict[str, dict[str, int]] = {key: {} for key, _, _ in top}
    for key, source, n in con.execute(
        "SELECT key, source, count(*) FROM turns SEMI JOIN top USING (key) "
        "GROUP BY key, source ORDER BY key, source"
    ).fetchall():
        sources[key][source] = n
    con.close()
    return {
        "min_conversations": cfg.min_conversations,
        "min_words": cfg.min_words,
        "templated_replies": count,
        "conversations_with_templated_reply": in_templated,
        "top": [
            {"reply_key": key, "conversations": n, "words": words, "sources": sources[key]}
            for key, n, words in top
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


def summarize(result: DedupResult, features: Features, cfg: DedupConfig) -> dict:
    """The dedup report section: counts by method and source, LSH settings, example clusters."""
    clusters = result.clusters.assign(source=features.keys["source"].to_numpy())
    removed = clusters[~clusters["kept"]]
    kept_source = clusters.set_index("conversation_id")["source"].reindex(removed["kept_id"]).to_numpy()
    cross = Counter(f"{k} <- {s}" for k, s in zip(kept_source, removed["source"], strict=True))
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
        "templated": templated_replies(features.table, cfg.templated),
    }
