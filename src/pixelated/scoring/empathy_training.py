"""Training and cross-validation of the EPITOME empathy heads (empathy.py).

Folds are grouped by `sp_id`, so no seeker post is on both sides (EPITOME rates several
responses to one post). The cue-phrase measure that
emotional authenticity used before (lexicons/quality.yaml `epitome`) is scored on the same
pairs, so the two are compared on identical data. Sharma et al. 2020's own figures (their
RoBERTa bi-encoder, Table 2 of the paper) are reported beside ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GroupKFold

from pixelated.core.text import normalize_for_measure
from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.empathy import MECHANISMS, EmpathyModel, fit_head

FILES = {
    "emotional_reactions": "emotional-reactions-reddit.csv",
    "interpretations": "interpretations-reddit.csv",
    "explorations": "explorations-reddit.csv",
}
# Sharma et al. 2020, EMNLP, Table 2 (accuracy, macro-F1 in %), as reported in the paper
SHARMA_2020 = {
    "emotional_reactions": {"accuracy": 79.43, "macro_f1": 74.46},
    "interpretations": {"accuracy": 84.04, "macro_f1": 62.60},
    "explorations": {"accuracy": 92.61, "macro_f1": 72.58},
}


def read_epitome(folder: Path) -> pd.DataFrame:
    """One row per (sp_id, rp_id) pair with the three levels; texts normalized for measuring."""
    frames = []
    for mechanism, name in FILES.items():
        frame = pd.read_csv(folder / name, dtype={"sp_id": str, "rp_id": str})
        frames.append(frame.set_index(["sp_id", "rp_id"])[["seeker_post", "response_post", "level"]]
                      .rename(columns={"level": mechanism}))  # fmt: skip
    pairs = frames[0].join([f[[m]] for f, m in zip(frames[1:], MECHANISMS[1:], strict=True)], how="inner")
    pairs = pairs[~pairs.index.duplicated()].reset_index().sort_values(["sp_id", "rp_id"], ignore_index=True)
    for column in ("seeker_post", "response_post"):
        pairs[column] = pairs[column].astype(str).map(normalize_for_measure)
    return pairs


def cue_levels(responses: list[str], mechanism: str) -> np.ndarray:
    """The cue-phrase measure's level (0/1/2) of each response."""
    levels = cues()["epitome"][mechanism]
    return np.array([round(2 * epitome_level(text, levels)) for text in responses])


def _scores(y: np.ndarray, predicted: np.ndarray) -> dict:
    return {
        "accuracy": round(100 * float(accuracy_score(y, predicted)), 2),
        "macro_f1": round(100 * float(f1_score(y, predicted, average="macro", labels=[0, 1, 2])), 2),
    }


def train_empathy(pairs: pd.DataFrame, folds: int = 5) -> tuple[EmpathyModel, dict]:
    """Cross-validated figures per mechanism and the heads fitted on every pair."""
    responses = pairs["response_post"].tolist()
    splits = list(GroupKFold(folds).split(responses, groups=pairs["sp_id"]))
    report, heads = {"pairs": len(pairs), "seeker_posts": int(pairs["sp_id"].nunique()), "folds": folds}, []
    for mechanism in MECHANISMS:
        y = pairs[mechanism].to_numpy()
        predicted = np.zeros_like(y)
        for train, test in splits:
            head = fit_head([responses[i] for i in train], y[train])
            predicted[test] = head.probabilities([responses[i] for i in test]).argmax(axis=1)
        report[mechanism] = {
            "tfidf_logreg": _scores(y, predicted),
            "cue_phrases": _scores(y, cue_levels(responses, mechanism)),
            "sharma_2020_roberta": SHARMA_2020[mechanism],
            "level_counts": {str(k): int(v) for k, v in zip(*np.unique(y, return_counts=True), strict=True)},
        }
        heads.append(fit_head(responses, y))
    return EmpathyModel(tuple(heads)), report
