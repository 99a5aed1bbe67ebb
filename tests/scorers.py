"""Tiny trained scorers for tests that need the models `train_scorers` writes: a behaviour-code
classifier and empathy heads, each fitted on a few clear written cases. Instant, deterministic."""

from pathlib import Path

import numpy as np

from pixelated.scoring.behaviour import LEARNED, fit_code_classifier
from pixelated.scoring.empathy import MECHANISMS, EmpathyModel, fit_head
from pixelated.scoring.scorers import Scorers
from pixelated.scoring.textclf import TextClassifier

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


# written responses at each EPITOME level (0 none, 1 weak, 2 strong) of every mechanism at once
RESPONSES = {
    0: [
        "post this in another forum.",
        "check the sidebar for rules.",
        "read the faq first.",
        "wrong subreddit.",
    ],
    1: ["that sucks.", "i understand.", "maybe talk about it?", "ok i see what you mean."],
    2: [
        "i'm so sorry, it sounds like you feel completely alone. what happened?",
        "that must be so painful, you feel you let everyone down. how are you coping?",
        "i'm really sorry you're hurting, it seems like work drains you. what helps?",
        "my heart goes out to you, it sounds like you are exhausted. when did it start?",
    ],
}


def tiny_code_classifier() -> TextClassifier:
    texts = [t for code in LEARNED for t in TRAIN[code] * 3]
    labels = [code for code in LEARNED for _ in TRAIN[code] * 3]
    return fit_code_classifier(texts, labels)


def tiny_empathy_model() -> EmpathyModel:
    responses = [text for level in RESPONSES for text in RESPONSES[level] * 2]
    levels = np.array([level for level in RESPONSES for _ in RESPONSES[level] * 2])
    return EmpathyModel(tuple(fit_head(responses, levels) for _ in MECHANISMS))


def tiny_scorers(folder: Path) -> Path:
    """A scorer model folder as `train_scorers` writes it."""
    Scorers(tiny_code_classifier(), tiny_empathy_model()).save(folder)
    return folder
