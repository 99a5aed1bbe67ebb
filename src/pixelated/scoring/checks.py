"""Does a scorer trained on one corpus see the same thing on ours? Checks for quality.json.

The EPITOME heads learned Reddit replies; ESConv's strategy labels name, turn by turn, what
an empathy mechanism should pick up in a spoken-style support chat: interpretations in
restatements and reflections of feelings, explorations in questions, emotional reactions in
affirmation and reassurance. Each mechanism's AUC separating those turns from the rest is
reported for the learned heads and for the old cue-phrase measure, on the same turns.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.empathy import MECHANISMS

# mechanism -> the canonical ESConv strategies (turns.STRATEGIES) that express it
EXPRESSED_BY = {
    "emotional_reactions": ("affirmation", "reflection"),
    "interpretations": ("restatement", "reflection"),
    "explorations": ("question",),
}


def empathy_transfer(model, labelled: list[tuple[str, np.ndarray, np.ndarray, str]]) -> dict:
    """`labelled`: (helper text, seeker vector, helper vector, canonical strategy) per ESConv
    helper turn. AUC per mechanism for the learned heads and the cue phrases."""
    if not labelled:
        return {"turns": 0}
    texts, seekers, helpers, strategies = zip(*labelled, strict=True)
    learned = model.expected_levels(np.stack(seekers), np.stack(helpers))
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
