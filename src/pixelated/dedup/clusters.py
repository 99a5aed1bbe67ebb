"""The cluster table, joined in DuckDB: the cascade's row positions with the spilled ids.

A frame of four id strings per conversation, built in pandas, grew with the input and was
most of dedup's memory after the features went to disk. Here DuckDB joins the decisions
(integers) with the ids and sources in the spilled Parquet, under its memory limit (spilling
past it); the stage writes the table a chunk of rows at a time, the report is SQL over it,
and the keep-or-quarantine pass reads each batch's rows back from the written file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from pixelated.core.schema import CLUSTER_METHODS
from pixelated.core.sql import connect
from pixelated.core.tableio import rechunked

if TYPE_CHECKING:
    from pixelated.dedup.cascade import DedupResult

CHUNK_ROWS = 1 << 16  # rows per frame, and per row group of the written table

# Two tables, not one query of CTEs: DuckDB materializes a CTE read three times in memory,
# which ran out of its limit at 800k conversations; its tables spill to the temporary folder.
_NAMED = """
CREATE TEMP TABLE named AS
SELECT * FROM decisions
JOIN (SELECT file_row_number AS row, conversation_id, source FROM read_parquet(?, file_row_number = true))
USING (row)
"""
_CLUSTERS = """
CREATE TEMP TABLE clusters AS
SELECT named.row, named.conversation_id, cluster_id, group_id, named.row = named.kept_row AS kept,
    list_extract(?, named.method + 1) AS method, keeper.conversation_id AS kept_id,
    named.source, keeper.source AS kept_source
FROM named
JOIN (SELECT root, min(conversation_id) AS cluster_id FROM named GROUP BY root) USING (root)
JOIN (SELECT group_root, min(conversation_id) AS group_id FROM named GROUP BY group_root) USING (group_root)
JOIN named AS keeper ON keeper.row = named.kept_row
"""
COLUMNS = ("conversation_id", "cluster_id", "group_id", "kept", "method", "kept_id")


class ClusterTable:
    """The cluster table of a `DedupResult` as the DuckDB table `clusters` (COLUMNS, with the
    input `row`, `source` and the keeper's `kept_source`), for `frames` and the report's SQL."""

    def __init__(self, result: DedupResult, threads: int = 2):
        self.con = connect(threads)
        self.con.register("decisions", result.decisions)
        self.con.execute(_NAMED, [str(result.features.table)])
        self.con.unregister("decisions")
        self.con.execute(_CLUSTERS, [list(CLUSTER_METHODS)])
        self.con.execute("DROP TABLE named")
        self._check()

    def _check(self) -> None:
        """What a chunk's pandera check cannot see: ids unique and one kept conversation per
        cluster, over the whole table."""
        repeated, clusters = self.con.execute(
            """
            SELECT (SELECT count(*) - count(DISTINCT conversation_id) FROM clusters),
                (SELECT list(cluster_id ORDER BY cluster_id)[:5] FROM (
                    SELECT cluster_id FROM clusters GROUP BY cluster_id HAVING count(*) FILTER (kept) != 1
                ))
            """
        ).fetchall()[0]
        if repeated or clusters:
            raise ValueError(
                f"dedup cluster table: {repeated} repeated conversation ids; "
                f"clusters without exactly one kept conversation: {clusters or []}"
            )

    def frames(self, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The table in input order, `rows` at a time, typed as DedupClusterSchema expects."""
        reader = self.con.sql(f"SELECT {', '.join(COLUMNS)} FROM clusters ORDER BY row").to_arrow_reader(rows)
        arrow_strings = {pa.string(): pd.StringDtype("pyarrow")}.get
        for table in rechunked(reader, rows):
            yield table.to_pandas(types_mapper=arrow_strings)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ClusterTable:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
