"""Quantiles from SQL order statistics are exactly pandas' numbers."""

import numpy as np
import pandas as pd

from pixelated.core import sql

FRACTIONS = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)


def test_quantiles_from_order_statistics_are_exactly_pandas_numbers():
    """Small and large groups (numpy takes another median path from 600 values), odd and even
    sizes, ties, fractions whose place is not a multiple of 1/4, and one group over all rows."""
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 4, 5, 8, 13, 64, 599, 600, 601, 1202]
    groups = np.repeat([f"g{n}" for n in sizes], sizes)
    values = np.round(rng.random(len(groups)), 6)
    values[::7] = 0.5  # ties
    frame = pd.DataFrame({"grp": groups, "score": values})
    con = sql.connect(1)
    con.register("scores", frame)
    by_group = sql.order_statistics(con, "scores", "score", FRACTIONS, group="grp")
    (whole,) = sql.order_statistics(con, "scores", "score", FRACTIONS).values()
    cases = [(whole, frame["score"]), *((by_group[g], m) for g, m in frame.groupby("grp")["score"])]
    for (n, at), members in cases:
        assert n == len(members)
        assert [sql.quantile(n, at, q) for q in FRACTIONS] == [members.quantile(q) for q in FRACTIONS]
        assert sql.median(n, at) == members.median()
