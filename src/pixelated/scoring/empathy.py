"""Empathy of a helper response, learned from EPITOME's expert-framework labels.

Sharma et al. 2020 (EMNLP) rate each (seeker post, response) pair 0 / 1 / 2 for three
communication mechanisms: emotional reactions (ER), interpretations (IP) and explorations
(EX). One head per mechanism: a TF-IDF + logistic-regression classifier of the response
(textclf.TextClassifier). The mechanisms are ways of phrasing a reply ("I'm so sorry", "it
sounds like you feel", "what happened?"), and word n-grams of the response beat a linear head
on frozen MiniLM embeddings of the pair on every mechanism (docs/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelated.scoring.textclf import TextClassifier

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
LEVELS = 3  # 0 none, 1 weak, 2 strong


def fit_head(responses: list[str], levels: np.ndarray) -> TextClassifier:
    """One mechanism's head (C = 1, n-grams seen in two responses or more)."""
    return TextClassifier.fit(responses, levels, LEVELS, c=1.0, min_df=2)


@dataclass(frozen=True)
class EmpathyModel:
    heads: tuple[TextClassifier, ...]  # one per mechanism, in MECHANISMS order

    def level_probabilities(self, responses: list[str]) -> np.ndarray:
        """(n, mechanisms, LEVELS)."""
        return np.stack([head.probabilities(responses) for head in self.heads], axis=1)

    def expected_levels(self, responses: list[str]) -> np.ndarray:
        """(n, mechanisms) expected level / 2, in [0, 1]."""
        if not responses:
            return np.zeros((0, len(MECHANISMS)))
        return self.level_probabilities(responses) @ np.arange(LEVELS) / (LEVELS - 1)

    def save(self, folder: Path) -> None:
        for mechanism, head in zip(MECHANISMS, self.heads, strict=True):
            head.save(folder, f"empathy_{mechanism}")

    @classmethod
    def load(cls, folder: Path) -> EmpathyModel:
        return cls(tuple(TextClassifier.load(folder, f"empathy_{mechanism}") for mechanism in MECHANISMS))
