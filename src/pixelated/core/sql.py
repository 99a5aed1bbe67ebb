"""DuckDB connections whose sorts, joins, windows and aggregates stay under a memory cap and
spill to the temporary folder past it: stages aggregate per-conversation tables in SQL
instead of holding their columns in pandas (issue 14)."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable

import duckdb

SQL_MEMORY = "128MB"  # per connection: a cap that holds dedup's cluster joins at 3.2M conversations


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB capped at SQL_MEMORY: its default limit, most of the machine's
    memory, let its work grow with the data."""
    config = {"threads": int(threads), "memory_limit": SQL_MEMORY, "temp_directory": tempfile.gettempdir()}
    return duckdb.connect(config=config)


def identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (column names that come from config)."""
    return '"' + name.replace('"', '""') + '"'


def order_statistics(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    fractions: Iterable[float],
    group: str | None = None,
) -> dict[object, tuple[int, dict[int, float]]]:
    """Per value of `group` (one group, None, if not given): how many non-null values `column`
    has in `relation` (a table or view), n, and its sorted values at the places a
    quantile at each of `fractions` interpolates between (`quantile`, `median`), by place.
    DuckDB ranks the values, spilling past its cap, and returns only those few."""
    places = ", ".join(
        f"floor((n - 1) * {fraction!r}::DOUBLE), floor((n - 1) * {fraction!r}::DOUBLE) + 1"
        for fraction in fractions
    )
    value, by = identifier(column), identifier(group) if group else "NULL"
    ranked = con.sql(
        f"""SELECT grp, n, place, value FROM (
            SELECT {by} AS grp, {value} AS value, count(*) OVER (PARTITION BY {by}) AS n,
                row_number() OVER (PARTITION BY {by} ORDER BY {value}) - 1 AS place
            FROM {relation} WHERE {value} IS NOT NULL{f" AND {by} IS NOT NULL" if group else ""})
        WHERE place IN ({places})"""
    ).fetchall()
    statistics: dict[object, tuple[int, dict[int, float]]] = {}
    for grp, n, place, value_at in ranked:
        statistics.setdefault(grp, (n, {}))[1][place] = value_at
    return statistics


def quantile(n: int, at: dict[int, float], fraction: float) -> float:
    """pandas' `Series.quantile(fraction)` (numpy's linear method) of n sorted values known at
    the places `order_statistics` returns: numpy's own float operations on the same two
    values, so exactly its number (tests check it against pandas)."""
    place = (n - 1) * fraction
    low = math.floor(place)
    below, above = at[low], at[min(low + 1, n - 1)]
    weight, step = place - low, above - below
    return above - step * (1 - weight) if weight >= 0.5 else below + step * weight


def median(n: int, at: dict[int, float]) -> float:
    """pandas' `Series.median()`: the middle value, or the mean of the middle two."""
    middle = (n - 1) // 2
    return at[middle] if n % 2 else (at[middle] + at[middle + 1]) / 2
