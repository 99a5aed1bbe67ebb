"""Counselling behaviour codes in the spirit of MITI 4.2.1 (Moyers et al. 2016) for helper text.

The coding unit is the sentence, as MITI codes utterances: a long written answer is split into
sentences, so a reflection inside it counts exactly as a reflection turn in a chat does.

Two parts, each used where the labelled data can support it:
- a learned classifier (TF-IDF word 1-2-grams, multinomial logistic regression) over the
  codes that the labelled sources name often enough to learn (LEARNED), trained through the
  label mapping below (docs/quality.md documents it);
- rules from MITI's own definitions for the distinctions the sources rarely or never label
  (open vs closed question form; advice with vs without permission, where a seeker's direct
  request counts as permission as MITI 4.2.1 says; emphasizing autonomy; seeking
  collaboration; confront): cue phrases in lexicons/quality.yaml `miti`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from pixelated.scoring.cues import cues
from pixelated.scoring.empathy import class_arrays

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
_TOKENS = r"(?u)\b\w+\b|\?"


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


def _vectorizer(vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=3, max_features=40000, sublinear_tf=True,
        token_pattern=_TOKENS, vocabulary=vocabulary, dtype=np.float32,
    )  # fmt: skip


@dataclass
class CodeClassifier:
    """TF-IDF + logistic regression over LEARNED; stored as JSON (vocabulary) + .npy (weights)."""

    vectorizer: TfidfVectorizer
    coef: np.ndarray  # (len(LEARNED), n_features)
    intercept: np.ndarray

    @classmethod
    def fit(cls, texts: list[str], labels: list[str], weights: np.ndarray | None = None) -> CodeClassifier:
        vectorizer = _vectorizer()
        x = vectorizer.fit_transform(texts)
        y = np.array([LEARNED.index(label) for label in labels])
        model = LogisticRegression(C=4.0, max_iter=500, tol=1e-3, class_weight="balanced")
        model.fit(x, y, sample_weight=weights)
        return cls(vectorizer, *class_arrays(model, len(LEARNED)))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(LEARNED)) softmax probabilities."""
        if not texts:
            return np.zeros((0, len(LEARNED)))
        logits = self.vectorizer.transform(texts) @ self.coef.T + self.intercept
        logits = np.asarray(logits, dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        """JSON vocabulary and .npy arrays: byte-stable (npz zips carry the time) and never pickled."""
        folder.mkdir(parents=True, exist_ok=True)
        vocabulary = {term: int(i) for term, i in sorted(self.vectorizer.vocabulary_.items())}
        (folder / "codes_vocabulary.json").write_text(json.dumps(vocabulary, sort_keys=True) + "\n")
        arrays = {"coef": self.coef, "intercept": self.intercept, "idf": self.vectorizer.idf_}
        for name, array in arrays.items():
            np.save(folder / f"codes_{name}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> CodeClassifier:
        vocabulary = json.loads((folder / "codes_vocabulary.json").read_text())
        coef, intercept, idf = (
            np.load(folder / f"codes_{name}.npy") for name in ("coef", "intercept", "idf")
        )
        vectorizer = _vectorizer(vocabulary)
        vectorizer.idf_ = idf
        return cls(vectorizer, coef, intercept)


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
            if miti[code].search(unit):  # a cue-coded behaviour takes the unit
                values = {name: 0.0 for name in values} | {code: 1.0}
        out[row] = [values.get(code, 0.0) for code in CODES]
    return out


def advice_requested(seeker_text: str | None) -> bool:
    """The seeker asked a question or asked for help: MITI counts that as permission to advise."""
    return bool(seeker_text) and bool(cues()["miti"]["advice_request"].search(seeker_text))


def code_units(
    classifier: CodeClassifier, helper_texts: list[str], seeker_before: list[str | None]
) -> np.ndarray:
    """Code probabilities of every sentence of every helper turn, stacked (units x CODES)."""
    rows = []
    for text, seeker in zip(helper_texts, seeker_before, strict=True):
        units = sentences(text)
        if units:
            rows.append(refine(units, classifier.probabilities(units), advice_requested(seeker)))
    return np.concatenate(rows) if rows else np.zeros((0, len(CODES)))
