"""A TF-IDF + logistic-regression text classifier, stored as JSON and .npy (never pickled).

Both trained scorers are one: the behaviour-code classifier over helper sentences, and each
EPITOME mechanism's head over helper responses. Word 1-2-grams plus the question mark (a
question is a behaviour), sublinear term frequency, class-balanced weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

TOKENS = r"(?u)\b\w+\b|\?"


def _vectorizer(vocabulary: dict[str, int] | None = None, min_df: int = 3) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=min_df, max_features=40000, sublinear_tf=True,
        token_pattern=TOKENS, vocabulary=vocabulary, dtype=np.float32,
    )  # fmt: skip


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


@dataclass
class TextClassifier:
    vectorizer: TfidfVectorizer
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)

    @classmethod
    def fit(
        cls,
        texts: list[str],
        y: np.ndarray,
        n_classes: int,
        weights: np.ndarray | None = None,
        c: float = 4.0,
        min_df: int = 3,
    ) -> TextClassifier:
        """`y` holds class ids in range(n_classes); a class missing from `y` is never predicted."""
        vectorizer = _vectorizer(min_df=min_df)
        x = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=c, max_iter=1000, tol=1e-3, class_weight="balanced")
        model.fit(x, y, sample_weight=weights)
        return cls(vectorizer, *class_arrays(model, n_classes))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_classes) softmax probabilities."""
        if not texts:
            return np.zeros((0, len(self.intercept)))
        logits = np.asarray(self.vectorizer.transform(texts) @ self.coef.T + self.intercept, dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, folder: Path, name: str) -> None:
        """<name>_vocabulary.json and <name>_{coef,intercept,idf}.npy: byte-stable (np.savez's
        zip would carry the write time) and never pickled."""
        folder.mkdir(parents=True, exist_ok=True)
        vocabulary = {term: int(i) for term, i in sorted(self.vectorizer.vocabulary_.items())}
        (folder / f"{name}_vocabulary.json").write_text(json.dumps(vocabulary, sort_keys=True) + "\n")
        arrays = {"coef": self.coef, "intercept": self.intercept, "idf": self.vectorizer.idf_}
        for part, array in arrays.items():
            np.save(folder / f"{name}_{part}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, name: str) -> TextClassifier:
        vocabulary = json.loads((folder / f"{name}_vocabulary.json").read_text())
        coef, intercept, idf = (
            np.load(folder / f"{name}_{part}.npy") for part in ("coef", "intercept", "idf")
        )
        vectorizer = _vectorizer(vocabulary)
        vectorizer.idf_ = idf
        return cls(vectorizer, coef, intercept)
