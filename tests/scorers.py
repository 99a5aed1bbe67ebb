"""Tiny trained scorers for tests that need the models `train_scorers` writes: a behaviour-code
classifier fitted on a few clear written units, and empathy heads whose level follows one
direction of the response vector. Seconds to fit, deterministic."""

from pathlib import Path

import numpy as np

from pixelated.scoring.behaviour import LEARNED, CodeClassifier
from pixelated.scoring.empathy import EmpathyModel, fit_head, pair_features
from pixelated.scoring.scorers import Scorers

TRAIN = {
    "simple_reflection": [
        "so you feel sad",
        "you are tired of it",
        "you feel alone",
        "so it is hard at work",
    ],
    "complex_reflection": [
        "it sounds like you feel you have let everyone down",
        "it sounds like part of you wants to leave and part wants to stay",
        "it sounds like you are carrying this all by yourself",
        "it sounds like you feel nobody sees how hard you try",
    ],
    "question": ["how are you feeling?", "what happened next?", "do you sleep well?", "are you ok?"],
    "affirm": [
        "you showed real courage",
        "you have worked so hard on this",
        "you did a great job reaching out",
        "you are strong",
    ],
    "giving_information": [
        "depression is common and treatable",
        "sleep problems are a symptom of anxiety",
        "therapy helps many people with panic",
        "grief comes in waves",
    ],
    "advise": ["you should try exercise", "try to walk daily", "you should call a friend", "try journaling"],
    "self_disclosure": [
        "i went through this too",
        "i had the same problem",
        "i lost my dad too",
        "i was anxious too",
    ],
    "other": ["hello", "hi there", "ok", "bye, take care"],
}


def tiny_code_classifier() -> CodeClassifier:
    texts = [t for code in LEARNED for t in TRAIN[code] * 3]
    labels = [code for code in LEARNED for _ in TRAIN[code] * 3]
    return CodeClassifier.fit(texts, labels)


def tiny_empathy_model(dimension: int = 8) -> tuple[EmpathyModel, np.ndarray, np.ndarray]:
    """(heads, seeker vectors, response vectors they were fitted on)."""
    rng = np.random.default_rng(0)
    seeker, response = rng.normal(size=(60, dimension)), rng.normal(size=(60, dimension))
    seeker /= np.linalg.norm(seeker, axis=1, keepdims=True)
    response /= np.linalg.norm(response, axis=1, keepdims=True)
    x = pair_features(seeker, response)
    direction = response[:, 0]  # the level follows one response direction, in thirds
    y = np.digitize(direction, np.quantile(direction, [1 / 3, 2 / 3]))
    return EmpathyModel.from_heads([fit_head(x, y) for _ in range(3)]), seeker, response


def tiny_scorers(folder: Path) -> Path:
    """A scorer model folder as `train_scorers` writes it, for MiniLM's 384-dimensional vectors."""
    from pixelated.core.embed import DIMENSION

    Scorers(tiny_code_classifier(), tiny_empathy_model(DIMENSION)[0]).save(folder)
    return folder
