"""Counselling behaviour codes in the spirit of MITI 4.2.1 (Moyers et al. 2016) for helper text.

The coding unit is the sentence, as MITI codes utterances: a long written answer is split into
sentences, so a reflection inside it counts exactly as a reflection turn in a chat does.

Two parts, each used where the labelled data can support it:
- a learned classifier (textclf.TextClassifier: TF-IDF, logistic regression) over the
  codes that the labelled sources name often enough to learn (LEARNED), trained through the
  label mapping below (docs/quality.md documents it);
- rules from MITI's own definitions for the distinctions the sources rarely or never label
  (open vs closed question form; advice with vs without permission, where a seeker's direct
  request counts as permission as MITI 4.2.1 says; emphasizing autonomy; seeking
  collaboration; confront): cue phrases in lexicons/quality.yaml `miti`.
"""

from __future__ import annotations

import re

import numpy as np

from pixelated.scoring.cues import asserted, cues
from pixelated.scoring.textclf import TextClassifier

CODES = (
    "simple_reflection",
    "complex_reflection",
    "open_question",
    "closed_question",
    "affirm",
    "giving_information",
    "advise_with_permission",
    "advise_without_permission",
    "confront",
    "emphasize_autonomy",
    "seek_collaboration",
    "self_disclosure",
    "other",
)
# What the classifier learns; `question` and `advise` are split by rule into the MITI codes.
LEARNED = (
    "simple_reflection",
    "complex_reflection",
    "question",
    "affirm",
    "giving_information",
    "advise",
    "self_disclosure",
    "other",
)

# (source, raw label lower-cased) -> LEARNED code or, where a source draws the MITI distinction
# itself, the MITI code (used to measure the rules). None: too ambiguous to train on.
LABEL_MAP: dict[str, dict[str, str | None]] = {
    "esconv": {
        "question": "question", "questions": "question",
        "restatement or paraphrasing": "simple_reflection", "restatement": "simple_reflection",
        "reflection of feelings": "complex_reflection",
        "self-disclosure": "self_disclosure",
        "affirmation and reassurance": "affirm", "approval and reassurance": "affirm",
        "providing suggestions": "advise", "direct guidance": "advise",
        "information": "giving_information",
        "providing suggestions or information": None,  # MultiESC merged two MITI codes
        "greeting": "other", "others": "other", "other": "other",
    },
    "mi_counselchat": {
        "simple reflection": "simple_reflection", "complex reflection": "complex_reflection",
        "open question": "open_question", "closed question": "closed_question",
        "affirm": "affirm", "support": "affirm",
        "give information": "giving_information",
        "advise with permission": "advise_with_permission",
        "advise without permission": "advise_without_permission",
        "direct": "advise_without_permission", "warn": "confront",
        "emphasize autonomy": "emphasize_autonomy",
        "self-disclose": "self_disclosure", "other": "other",
    },
    "hope_sample": {
        "irq": "question", "orq": "question", "crq": "question", "ynq": "closed_question",
        "id": "giving_information", "od": "giving_information",
        "gc": "other", "gt": "other", "ack": "other", "yna": "other", "nna": "other", "cd": "other",
    },
    "empathetic_intents": {  # machine-predicted intents (Welivita & Pu 2020): the noisiest source
        "questioning": "question", "suggesting": "advise", "encouraging": "affirm",
        "acknowledging": "other", "agreeing": "other", "consoling": "other", "sympathizing": "other",
        "wishing": "other", "neutral": "other",
    },
}  # fmt: skip
TO_LEARNED = {
    "open_question": "question",
    "closed_question": "question",
    "advise_with_permission": "advise",
    "advise_without_permission": "advise",
    "confront": "other",
    "emphasize_autonomy": "other",
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def label_family(source: str) -> str | None:
    return "esconv" if source.startswith("esconv") else (source if source in LABEL_MAP else None)


def map_label(source: str, label: str | None) -> str | None:
    """The code a source's label maps to (LABEL_MAP), None if unmapped or ambiguous."""
    family = label_family(source)
    if family is None or not label:
        return None
    return LABEL_MAP[family].get(label.strip().lower())


def sentences(text: str, min_words: int = 3) -> list[str]:
    """Coding units: sentences, a fragment under `min_words` words joined to the one before."""
    units: list[str] = []
    for piece in _SENTENCE.split(text.strip()):
        if units and len(piece.split()) < min_words:
            units[-1] = f"{units[-1]} {piece}"
        elif piece:
            units.append(piece)
    return units


def fit_code_classifier(
    texts: list[str], labels: list[str], weights: np.ndarray | None = None
) -> TextClassifier:
    """The classifier over LEARNED codes (C = 4: codes are short, distinct phrasings)."""
    y = np.array([LEARNED.index(label) for label in labels])
    return TextClassifier.fit(texts, y, len(LEARNED), weights, c=4.0)


def refine(units: list[str], learned: np.ndarray, advice_requested: bool) -> np.ndarray:
    """MITI code probabilities (len(units), len(CODES)) from LEARNED probabilities plus the
    rules: question form, permission, and cue-coded autonomy, collaboration and confront."""
    miti = cues()["miti"]
    out = np.zeros((len(units), len(CODES)))
    for row, (unit, p) in enumerate(zip(units, learned, strict=True)):
        q = dict(zip(LEARNED, p, strict=True))
        is_open = bool(miti["open_question"].search(unit))
        permitted = advice_requested or bool(miti["permission"].search(unit))
        values = {
            "simple_reflection": q["simple_reflection"], "complex_reflection": q["complex_reflection"],
            "open_question": q["question"] * is_open, "closed_question": q["question"] * (not is_open),
            "affirm": q["affirm"], "giving_information": q["giving_information"],
            "advise_with_permission": q["advise"] * permitted,
            "advise_without_permission": q["advise"] * (not permitted),
            "self_disclosure": q["self_disclosure"], "other": q["other"],
        }  # fmt: skip
        for code in ("emphasize_autonomy", "seek_collaboration", "confront"):
            if asserted(miti[code], unit):  # a cue-coded behaviour takes the unit
                values = {name: 0.0 for name in values} | {code: 1.0}
        out[row] = [values.get(code, 0.0) for code in CODES]
    return out


def advice_requested(seeker_text: str | None) -> bool:
    """The seeker asked a question or asked for help: MITI counts that as permission to advise."""
    return bool(seeker_text) and bool(cues()["miti"]["advice_request"].search(seeker_text))


def code_units(
    classifier: TextClassifier, helper_texts: list[str], seeker_before: list[str | None]
) -> np.ndarray:
    """Code probabilities of every sentence of every helper turn, stacked (units x CODES)."""
    rows = []
    for text, seeker in zip(helper_texts, seeker_before, strict=True):
        units = sentences(text)
        if units:
            rows.append(refine(units, classifier.probabilities(units), advice_requested(seeker)))
    return np.concatenate(rows) if rows else np.zeros((0, len(CODES)))
