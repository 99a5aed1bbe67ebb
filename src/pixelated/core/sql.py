"""DuckDB connections whose sorts, joins, windows and aggregates stay under a memory cap and
spill to the temporary folder past it: stages aggregate per-conversation tables in SQL
instead of holding their columns in pandas (issue 14)."""

from __future__ import annotations

import tempfile

import duckdb

SQL_MEMORY = "128MB"  # per connection: a cap that holds dedup's cluster joins at 3.2M conversations


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB capped at SQL_MEMORY: its default limit, most of the machine's
    memory, let its work grow with the data."""
    config = {"threads": int(threads), "memory_limit": SQL_MEMORY, "temp_directory": tempfile.gettempdir()}
    return duckdb.connect(config=config)
