"""The saved strategy classifier scores exactly as the fitted one, and its file is byte-stable."""

from __future__ import annotations

import numpy as np

from pixelated.scoring.models import StrategyClassifier
from pixelated.scoring.turns import STRATEGIES


def test_saved_classifier_is_bit_identical_and_byte_stable(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    keys = [(f"c{i // 6}", i % 6) for i in range(60)]
    fitted = StrategyClassifier().fit(vectors, [STRATEGIES[i % 3] for i in range(60)], keys)
    fitted.save(tmp_path / "a.parquet")
    fitted.save(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    loaded = StrategyClassifier.load(tmp_path / "a.parquet")
    new = rng.normal(size=(20, 16)).astype(np.float32)
    mixed = keys[:10] + [("unseen", i) for i in range(10)]  # out-of-fold rows and fresh ones
    assert np.array_equal(fitted.probabilities(new, mixed), loaded.probabilities(new, mixed))
    assert loaded.report == fitted.report


def test_one_fresh_turn_scores_alike_fitted_and_loaded(tmp_path):
    """A conversation with one unlabelled helper turn asks for a one-row matrix; BLAS computes
    it differently for the two coef_ layouts, so the fitted model must have the loaded one's
    (the stage scores with the fitted model, the service with the loaded one: issue 15)."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, 384)).astype(np.float32)
    keys = [(f"c{i // 6}", i % 6) for i in range(60)]
    fitted = StrategyClassifier().fit(vectors, [STRATEGIES[i % 4] for i in range(60)], keys)
    fitted.save(tmp_path / "model.parquet")
    loaded = StrategyClassifier.load(tmp_path / "model.parquet")
    for row in rng.normal(size=(20, 384)).astype(np.float32):
        one, key = row[None, :], [("new", 0)]
        assert np.array_equal(fitted.probabilities(one, key), loaded.probabilities(one, key))
