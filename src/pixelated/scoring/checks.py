"""Does a scorer trained on one corpus see the same thing on ours? Checks for quality.json.

The EPITOME heads learned Reddit replies; ESConv's strategy labels name, turn by turn, what
an empathy mechanism should pick up in a spoken-style support chat: interpretations in
restatements and reflections of feelings, explorations in questions, emotional reactions in
affirmation and reassurance. Each mechanism's AUC separating those turns from the rest is
reported for the learned heads and for the old cue-phrase measure, on the same turns.
"""

from __future__ import annotations

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


def empathy_transfer(model, labelled: list[tuple[str, str]]) -> dict:
    """`labelled`: (helper text, canonical strategy) per ESConv helper turn. AUC per mechanism
    for the learned heads and the cue phrases."""
    if not labelled:
        return {"turns": 0}
    texts, strategies = zip(*labelled, strict=True)
    learned = model.expected_levels(list(texts))
    report = {"turns": len(texts)}
    for m, mechanism in enumerate(MECHANISMS):
        y = np.isin(strategies, EXPRESSED_BY[mechanism]).astype(int)
        if len(set(y)) < 2:
            continue
        levels = cues()["epitome"][mechanism]
        cue = np.array([epitome_level(t, levels) for t in texts])
        report[mechanism] = {
            "positive_strategies": list(EXPRESSED_BY[mechanism]),
            "auc_learned": round(float(roc_auc_score(y, learned[:, m])), 4),
            "auc_cue_phrases": round(float(roc_auc_score(y, cue)), 4),
        }
    return report


# MITI 4.2.1 (R:Q, %CR) and MITI 3.1.1 (%OQ) practice thresholds: (fair, good)
THRESHOLDS = {
    "reflection_to_question": (1.0, 2.0),
    "percent_complex_reflections": (0.4, 0.5),
    "percent_open_questions": (0.5, 0.7),
}


def miti_by_source(codes_of: dict[str, np.ndarray], source_of: dict[str, str]) -> dict:
    """Per source: mean MITI summary scores over the conversations that can show each, and the
    share of those reaching the published fair and good thresholds."""
    rows = []
    for cid, units in codes_of.items():
        for name, (value, evidence) in miti.summary(units).items():
            if evidence >= 1.0:  # enough coded units of the kinds the score needs
                rows.append((source_of[cid], name, value))
    frame = pd.DataFrame(rows, columns=["source", "summary", "value"])
    report: dict[str, dict] = {}
    for (source, name), part in frame.groupby(["source", "summary"], sort=True):
        entry = {"conversations": len(part), "mean": round(float(part["value"].mean()), 4)}
        if name in THRESHOLDS:
            fair, good = THRESHOLDS[name]
            entry["share_fair"] = round(float((part["value"] >= fair).mean()), 4)
            entry["share_good"] = round(float((part["value"] >= good).mean()), 4)
        report.setdefault(source, {})[name] = entry
    return report
