"""Training and out-of-fold evaluation of the behaviour-code classifier (behaviour.py).

Labelled units are the helper turns of every source that carries behaviour labels, each
mapped through `behaviour.LABEL_MAP`. Folds are grouped by conversation. Each labelled unit
is predicted by a model that never saw its conversation; the per-code F1 is measured on the
MITI codes after the rules, against the sources that draw each distinction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

from pixelated.core.hashing import text_hash
from pixelated.core.sampling import BottomK
from pixelated.core.text import normalize_for_measure
from pixelated.scoring.behaviour import (
    CODES,
    LEARNED,
    TO_LEARNED,
    advice_requested,
    fit_code_classifier,
    map_label,
    refine,
)
from pixelated.scoring.textclf import TextClassifier

# the machine-predicted EmpatheticDialogues intents count half as much as human labels
SOURCE_WEIGHT = {"empathetic_intents": 0.5}


@dataclass
class LabelledUnits:
    texts: list[str]
    codes: list[str]  # the mapped code (LEARNED or MITI)
    sources: list[str]
    groups: list[str]  # conversation ids
    asked: list[bool]  # the seeker turn before asked for advice
    read: int = 0  # labelled units in the table, the sample's source

    @property
    def learned(self) -> list[str]:
        return [TO_LEARNED.get(code, code) for code in self.codes]


def labelled_units(batches: Iterable[pd.DataFrame], max_units: int) -> LabelledUnits:
    """Every helper turn with a mapped behaviour label (`label` or ESConv `strategy`), in table
    order; past `max_units`, those of the conversations whose ids hash lowest, whole (the folds
    group by conversation), so that memory and fitting time stay bounded on any input."""
    sample = BottomK(max_units)
    read = 0
    for batch in batches:
        for cid, source, turns in zip(batch["conversation_id"], batch["source"], batch["turns"], strict=True):
            units = _conversation_units(cid, source, turns)
            read += len(units)
            if units:
                sample.offer(text_hash(cid), units, weight=len(units))
    kept = LabelledUnits([], [], [], [], [], read=read)
    for units in sample.by_arrival():
        for text, code, source, cid, asked in units:
            kept.texts.append(text)
            kept.codes.append(code)
            kept.sources.append(source)
            kept.groups.append(cid)
            kept.asked.append(asked)
    return kept


def _conversation_units(cid: str, source: str, turns) -> list[tuple[str, str, str, str, bool]]:
    """A conversation's labelled helper turns as (text, code, source, id, advice asked)."""
    units, seeker = [], None
    for turn in turns:
        text = normalize_for_measure(turn["text"])
        if turn["role"] == "seeker":
            seeker = text
        code = map_label(source, turn.get("strategy") or turn.get("label"))
        if turn["role"] == "helper" and code is not None and text:
            units.append((text, code, source, cid, advice_requested(seeker)))
    return units


def _weights(units: LabelledUnits) -> np.ndarray:
    return np.array([SOURCE_WEIGHT.get(s, 1.0) for s in units.sources])


def out_of_fold(units: LabelledUnits, folds: int = 5) -> np.ndarray:
    """MITI code probabilities of every labelled unit from models that never saw its conversation."""
    learned = units.learned
    weights = _weights(units)
    out = np.zeros((len(units.texts), len(CODES)))
    for train, test in GroupKFold(folds).split(units.texts, groups=units.groups):
        model = fit_code_classifier(
            [units.texts[i] for i in train], [learned[i] for i in train], weights[train]
        )
        probs = model.probabilities([units.texts[i] for i in test])
        for i, p in zip(test, probs, strict=True):
            out[i] = refine([units.texts[i]], p[None, :], units.asked[i])[0]
    return out


def code_report(units: LabelledUnits, oof: np.ndarray) -> dict:
    """Per-code precision/recall/F1 out of fold, on the sources that label each code."""
    predicted = np.array([CODES[i] for i in oof.argmax(axis=1)])
    truth = np.array(units.codes)
    sources = np.array(units.sources)
    report = {
        "labelled_units": len(truth),
        "labelled_units_read": units.read,
        "by_source": pd.Series(sources).value_counts().sort_index().to_dict(),
    }
    per_code = {}
    for code in CODES:
        # a source "labels" a code if it can name it: the code or its learned family appears
        labelling = {s for s, c in zip(sources, truth, strict=True) if c == code}
        mask = np.isin(sources, list(labelling))
        if not labelling:
            per_code[code] = {"support": 0, "f1": None}
            continue
        p, r, f, _ = precision_recall_fscore_support(
            truth[mask] == code, predicted[mask] == code, average="binary", zero_division=0
        )
        per_code[code] = {
            "support": int((truth[mask] == code).sum()),
            "precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
            "sources": sorted(labelling),
        }  # fmt: skip
    report["per_code"] = per_code
    learned_truth = np.array(units.learned)
    learned_pred = np.array([TO_LEARNED.get(c, c) for c in predicted])
    report["learned_macro_f1"] = round(
        float(f1_score(learned_truth, learned_pred, average="macro", labels=list(LEARNED))), 4
    )
    report["learned_accuracy"] = round(float(np.mean(learned_truth == learned_pred)), 4)
    report["learned_per_code_f1"] = {
        code: round(float(f), 4)
        for code, f in zip(
            LEARNED, f1_score(learned_truth, learned_pred, average=None, labels=list(LEARNED)), strict=True
        )
    }
    return report


def train_codes(units: LabelledUnits, folds: int = 5) -> tuple[TextClassifier, dict]:
    """The classifier fitted on every labelled unit, and its out-of-fold report."""
    report = code_report(units, out_of_fold(units, folds))
    return fit_code_classifier(units.texts, units.learned, _weights(units)), report
