"""Seeded orders are the same in Python and in DuckDB."""

import duckdb

from pixelated.core.hashing import seeded_key, seeded_key_sql


def test_seeded_key_sql_sorts_as_seeded_key_does():
    """Stages draw samples in SQL and tests check them with `seeded_key`: the two must agree
    on every id, non-ASCII ones included, and for an integer seed passed as a parameter."""
    ids = [f"c{i}" for i in range(200)] + ["é-ü", "a'b", "x:y", ""]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest($ids) AS conversation_id", {"ids": ids})
    for seed in (0, 7, 123456789):
        query = f"SELECT conversation_id FROM t ORDER BY {seeded_key_sql('$seed', 'conversation_id')}"
        in_sql = [row[0] for row in con.execute(query, {"seed": seed}).fetchall()]
        assert in_sql == sorted(ids, key=lambda cid, seed=seed: seeded_key(seed, cid))
