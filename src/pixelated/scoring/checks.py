"""Does a scorer trained on one corpus see the same thing on ours? Checks for quality.json.

The EPITOME heads learned Reddit replies; ESConv's strategy labels name, turn by turn, what
an empathy mechanism should pick up in a spoken-style support chat: interpretations in
restatements and reflections of feelings, explorations in questions, emotional reactions in
affirmation and reassurance. Each mechanism's AUC separating those turns from the rest is
reported for the learned heads and for the old cue-phrase measure, on the same turns.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pixelated.scoring import miti
from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.empathy import MECHANISMS

# mechanism -> the canonical ESConv strategies (turns.STRATEGIES) that express it
EXPRESSED_BY = {
    "emotional_reactions": ("affirmation", "reflection"),
    "interpretations": ("restatement", "reflection"),
    "explorations": ("question",),
}


class EmpathyTransfer:
    """ESConv's strategy-labelled helper turns, collected turn by turn for `report`: whether the
    strategy expresses each mechanism, the heads' expected level and the cue phrases' level,
    as flat arrays of bytes and 8-byte floats (not a row of Python objects each)."""

    def __init__(self):
        self.expressed = {mechanism: array("b") for mechanism in MECHANISMS}
        self.learned = {mechanism: array("d") for mechanism in MECHANISMS}
        self.cue = {mechanism: array("d") for mechanism in MECHANISMS}
        self.turns = 0

    def add(self, text: str, strategy: str, learned: np.ndarray) -> None:
        """One helper turn: its canonical strategy and the heads' level per mechanism."""
        self.turns += 1
        for m, mechanism in enumerate(MECHANISMS):
            self.expressed[mechanism].append(strategy in EXPRESSED_BY[mechanism])
            self.learned[mechanism].append(learned[m])
            self.cue[mechanism].append(epitome_level(text, cues()["epitome"][mechanism]))

    def report(self) -> dict:
        """AUC per mechanism of the learned heads and of the cue phrases."""
        if not self.turns:
            return {"turns": 0}
        report = {"turns": self.turns}
        for mechanism in MECHANISMS:
            y = np.frombuffer(self.expressed[mechanism], np.int8)
            if np.unique(y).size < 2:
                continue
            report[mechanism] = {
                "positive_strategies": list(EXPRESSED_BY[mechanism]),
                "auc_learned": round(float(roc_auc_score(y, np.asarray(self.learned[mechanism]))), 4),
                "auc_cue_phrases": round(float(roc_auc_score(y, np.asarray(self.cue[mechanism]))), 4),
            }
        return report


# MITI 4.2.1 (R:Q, %CR) and MITI 3.1.1 (%OQ) practice thresholds: (fair, good)
THRESHOLDS = {
    "reflection_to_question": (1.0, 2.0),
    "percent_complex_reflections": (0.4, 0.5),
    "percent_open_questions": (0.5, 0.7),
}


class MitiSummaries:
    """MITI summary scores per (source, summary score), collected conversation by conversation
    as 8-byte floats (not a row of Python objects each), for `report`."""

    def __init__(self):
        self.values: dict[tuple[str, str], array] = {}

    def add(self, units: np.ndarray, source: str) -> None:
        """One conversation's coded units: each summary score it holds enough coded units of
        the kinds the score needs to show."""
        for name, (value, evidence) in miti.summary(units).items():
            if evidence >= 1.0:
                self.values.setdefault((source, name), array("d")).append(value)

    def report(self) -> dict:
        """Per source: mean MITI summary scores over the conversations that can show each,
        and the share of those reaching the published fair and good thresholds."""
        report: dict[str, dict] = {}
        for (source, name), values in sorted(self.values.items()):
            part = pd.Series(values, dtype=float)
            entry = {"conversations": len(part), "mean": round(float(part.mean()), 4)}
            if name in THRESHOLDS:
                fair, good = THRESHOLDS[name]
                entry["share_fair"] = round(float((part >= fair).mean()), 4)
                entry["share_good"] = round(float((part >= good).mean()), 4)
            report.setdefault(source, {})[name] = entry
        return report
