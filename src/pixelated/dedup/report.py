"""The dedup report section (reports/dedup.json): counts, example clusters, templated replies.

Reported by id, hash, word count and source, never by text: the report is git-tracked.
"""

from __future__ import annotations

from pathlib import Path

from duckdb import DuckDBPyConnection

from pixelated.core.schema import DEDUP_METHODS
from pixelated.dedup.cascade import DedupResult
from pixelated.dedup.clusters import ClusterTable
from pixelated.dedup.config import DedupConfig, TemplatedConfig


def templated_replies(con: DuckDBPyConnection, table: Path, cfg: TemplatedConfig) -> dict:
    """Helper turns repeated (after normalization) across many conversations, with counts:
    SQL over the spilled helper-turn keys (`store.Features.table`), not a frame of them, on
    the cluster table's connection (one memory limit for the report)."""
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
    ).fetchall()[0]
    top = con.execute("SELECT key, conversations, words FROM top ORDER BY conversations DESC, key").fetchall()
    sources: dict[str, dict[str, int]] = {key: {} for key, _, _ in top}
    for key, source, n in con.execute(
        "SELECT key, source, count(*) FROM turns SEMI JOIN top USING (key) "
        "GROUP BY key, source ORDER BY key, source"
    ).fetchall():
        sources[key][source] = n
    con.execute("DROP TABLE turns; DROP TABLE templated; DROP TABLE top; DROP VIEW spilled")
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


def example_clusters(table: ClusterTable, per_method: int) -> dict:
    """The largest clusters (then by id) that removed a conversation by each method."""
    examples = {}
    for method in DEDUP_METHODS:
        chosen = table.con.execute(
            """
            WITH sizes AS (SELECT cluster_id, count(*) AS size FROM clusters GROUP BY cluster_id)
            SELECT cluster_id FROM sizes
            WHERE cluster_id IN (SELECT cluster_id FROM clusters WHERE NOT kept AND method = ?)
            ORDER BY size DESC, cluster_id LIMIT ?
            """,
            [method, per_method],
        ).fetchall()
        examples[method] = [
            {"cluster_id": cluster_id, "members": _members(table, cluster_id)} for (cluster_id,) in chosen
        ]
    return examples


def _members(table: ClusterTable, cluster_id: str) -> list[dict]:
    query = "SELECT conversation_id, source, kept, method FROM clusters WHERE cluster_id = ? ORDER BY row"
    rows = table.con.execute(query, [cluster_id]).fetchall()
    return [dict(zip(("conversation_id", "source", "kept", "method"), row, strict=True)) for row in rows]


def summarize(table: ClusterTable, result: DedupResult, cfg: DedupConfig) -> dict:
    """The dedup report section: counts by method and source, LSH settings, example clusters;
    SQL over the cluster table, which no Python frame holds."""
    sql = table.con.execute
    rows_in, rows_out = sql("SELECT count(*), count(*) FILTER (kept) FROM clusters").fetchall()[0]
    removed = dict(sql("SELECT method, count(*) FROM clusters WHERE NOT kept GROUP BY method").fetchall())
    cross = sql("SELECT kept_source, source, count(*) FROM clusters WHERE NOT kept GROUP BY ALL").fetchall()
    with_duplicates, largest = sql(
        "SELECT count(*) FILTER (size > 1), coalesce(max(size), 0) "
        "FROM (SELECT count(*) AS size FROM clusters GROUP BY cluster_id)"
    ).fetchall()[0]
    (several,) = sql(
        "SELECT count(*) FROM (SELECT group_id FROM clusters GROUP BY group_id HAVING count(*) > 1)"
    ).fetchall()[0]
    return {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "removed": {m: removed.get(m, 0) for m in DEDUP_METHODS},
        "removed_by_source": dict(sorted((f"kept {k} <- {s}", n) for k, s, n in cross)),
        "clusters_with_duplicates": with_duplicates,
        "largest_cluster": largest,
        "groups_with_several_conversations": several,
        "keep_policy": cfg.keep,
        **result.stats,
        "examples": example_clusters(table, cfg.examples),
        "templated": templated_replies(table.con, result.features.table, cfg.templated),
    }
