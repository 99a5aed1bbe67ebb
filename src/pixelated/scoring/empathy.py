"""Empathy of a helper response, learned from EPITOME's expert-framework labels.

Sharma et al. 2020 (EMNLP) rate each (seeker post, response) pair 0 / 1 / 2 for three
communication mechanisms: emotional reactions (ER), interpretations (IP) and explorations
(EX). One multinomial logistic regression per mechanism over MiniLM embeddings of the pair,
[u, v, u * v] (seeker u, response v; the interaction term carries how the response relates to
the post), class-balanced. The heads are stored as .npy weights, never pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
LEVELS = 3  # 0 none, 1 weak, 2 strong


def pair_features(seeker: np.ndarray, response: np.ndarray) -> np.ndarray:
    """(n, 3 * dim): seeker, response and their element-wise product (all L2-normalized rows)."""
    return np.hstack([seeker, response, seeker * response]).astype(np.float32)


def fit_head(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=1000, tol=1e-4, class_weight="balanced").fit(x, y)


def head_arrays(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """(LEVELS, features) weights and (LEVELS,) biases; a level the data lacks is never predicted."""
    return class_arrays(model, LEVELS)


def class_arrays(model: LogisticRegression, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted logistic regression as softmax weights over all `n_classes` class ids (a binary
    fit becomes the two-class softmax it is equivalent to; an absent class gets -30)."""
    weights, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn keeps one row for the second class
        weights, intercept = np.vstack([np.zeros_like(weights), weights]), np.array([0.0, intercept[0]])
    coef = np.zeros((n_classes, weights.shape[1]), np.float32)
    bias = np.full(n_classes, -30.0, np.float32)
    coef[model.classes_], bias[model.classes_] = weights, intercept
    return coef, bias


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class EmpathyModel:
    coef: np.ndarray  # (mechanisms, LEVELS, features)
    bias: np.ndarray  # (mechanisms, LEVELS)

    @classmethod
    def from_heads(cls, heads: list[LogisticRegression]) -> EmpathyModel:
        arrays = [head_arrays(head) for head in heads]
        return cls(np.stack([a[0] for a in arrays]), np.stack([a[1] for a in arrays]))

    def level_probabilities(self, seeker: np.ndarray, response: np.ndarray) -> np.ndarray:
        """(n, mechanisms, LEVELS)."""
        x = pair_features(seeker, response)
        logits = np.einsum("nf,mlf->nml", x.astype(np.float64), self.coef.astype(np.float64))
        return _softmax(logits + self.bias)

    def expected_levels(self, seeker: np.ndarray, response: np.ndarray) -> np.ndarray:
        """(n, mechanisms) expected level / 2, in [0, 1]."""
        return self.level_probabilities(seeker, response) @ np.arange(LEVELS) / (LEVELS - 1)

    def save(self, folder: Path) -> None:
        """.npy arrays, byte-stable (npz zips carry the time) and never pickled."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "empathy_coef.npy", self.coef, allow_pickle=False)
        np.save(folder / "empathy_bias.npy", self.bias, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> EmpathyModel:
        coef, bias = np.load(folder / "empathy_coef.npy"), np.load(folder / "empathy_bias.npy")
        if coef.shape[:2] != (len(MECHANISMS), LEVELS):
            raise ValueError(
                f"{folder}: empathy heads of shape {coef.shape[:2]}, expected {(len(MECHANISMS), LEVELS)}"
            )
        return cls(coef, bias)
