"""Agreement with human labels: the bootstrap's AUC is sklearn's and its rho is scipy's, ties
included; the report's distributions, in SQL, are pandas' numbers."""

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from pixelated.core import sql
from pixelated.scoring import agreement
from pixelated.scoring.agreement import _auc_rows, _spearman_rows, auc_with_ci, bootstrap_ci, roc_auc


def test_roc_auc_matches_sklearn_with_ties_and_refuses_one_class():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = np.r_[0, 1, rng.integers(0, 2, 40)]
        score = np.round(rng.random(42), 1)  # rounded: many ties
        assert np.isclose(roc_auc(y, score), roc_auc_score(y, score), rtol=0, atol=1e-12)
    assert roc_auc(np.ones(5, int), np.arange(5.0)) is None


def test_auc_with_ci_brackets_a_clear_separation():
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    score = np.r_[np.linspace(0, 0.6, 30), np.linspace(0.4, 1, 30)]
    result = auc_with_ci(y, score)
    low, high = result["ci95"]
    assert low <= result["auc"] <= high and result["auc"] > 0.9


def test_rho_of_every_bootstrap_round_is_scipys_spearman():
    rng = np.random.default_rng(1)
    x, y = np.round(rng.random((200, 30)), 1), rng.integers(0, 5, (200, 30)).astype(float)
    y[0] = 2.0  # a constant round: undefined
    rho = _spearman_rows(x, y)
    assert np.isnan(rho[0])
    expected = [spearmanr(a, b)[0] for a, b in zip(x[1:], y[1:], strict=True)]
    assert np.allclose(rho[1:], expected, rtol=0, atol=1e-12)


def test_bootstrap_rounds_go_in_blocks_with_the_draws_of_one_matrix(monkeypatch):
    """Blocks of rounds bound memory at any n, and give the interval of all rounds at once."""
    rng = np.random.default_rng(2)
    y, score = rng.integers(0, 2, 300), np.round(rng.random(300), 2)
    whole = auc_with_ci(y, score)["ci95"]
    seen = []

    def auc_rows(rows):
        seen.append(rows.shape)
        return _auc_rows(y[rows], score[rows])

    monkeypatch.setattr(agreement, "BOOTSTRAP_BLOCK_CELLS", 300 * 64)
    assert bootstrap_ci(auc_rows, 300) == whole
    assert seen == [(64, 300)] * 15 + [(40, 300)]  # 1000 rounds, 64 a block


def test_distribution_in_sql_gives_pandas_quantiles_per_group_and_nones_when_empty():
    quality = [0.1, 0.4, 0.2, 0.9, 0.5, 0.3, 0.3, 0.8, 0.6]
    frame = pd.DataFrame({"source": ["a"] * 5 + ["b"] * 4, "quality": quality})
    con = sql.connect(1)
    con.register("scores", frame)
    by_source = agreement.distribution(con, "scores", "quality", "source")
    for source, values in frame.groupby("source")["quality"]:
        assert by_source[source] == {
            "mean": round(values.mean(), 4),
            **{f"p{int(q * 100)}": round(values.quantile(q), 4) for q in agreement.DISTRIBUTION},
        }
    assert agreement.distribution(con, "scores", "quality")[None]["p50"] == frame["quality"].median()
    con.register("empty", frame.iloc[:0])
    assert set(agreement.distribution(con, "empty", "quality")[None].values()) == {None}
