"""MITI 4.2.1 summary scores from behaviour codes, and therapeutic accuracy built on them.

Summary scores (Moyers et al. 2016, MITI 4.2.1, pp. 27-28; %OQ from MITI 3.1.1):
- reflection-to-question ratio R:Q (fair 1:1, good 2:1);
- % complex reflections CR / R (fair 40%, good 50%);
- % open questions OQ / Q (fair 50%, good 70%): reported, but not part of therapeutic
  accuracy, since MITI 4 dropped the open/closed distinction from its summary scores;
- % MI-adherent A / (A + N): adherent = affirm, seeking collaboration, emphasizing autonomy;
  non-adherent = confront, persuade (advise) without permission. MITI gives no threshold;
  it is mapped with "all adherent" -> 1 and "half" -> fair.

Shape fairness: counts are expected counts over coding units (sentences), and each summary
score is weighted by how much evidence the conversation holds for it (a ratio needs units of
both kinds; `_evidence`). A summary score the conversation cannot show does not count at all,
rather than scoring 0 or 1. The thresholds map onto the quality tiers: "fair" -> 0.7 (the
recommended tier), "good" -> 0.8 (production).
"""

from __future__ import annotations

import numpy as np

from pixelated.scoring.behaviour import CODES

FAIR, GOOD = 0.7, 0.8
# summary score -> (value anchors, score anchors): fair and good land on 0.7 and 0.8
ANCHORS = {
    "reflection_to_question": ([0.0, 0.5, 1.0, 2.0, 3.0], [0.3, 0.55, FAIR, GOOD, 1.0]),
    "percent_complex_reflections": ([0.0, 0.4, 0.5, 0.8], [0.4, FAIR, GOOD, 1.0]),
    "percent_open_questions": ([0.0, 0.5, 0.7, 1.0], [0.4, FAIR, GOOD, 1.0]),
    "percent_mi_adherent": ([0.0, 0.5, 0.75, 1.0], [0.2, FAIR, GOOD, 1.0]),
}
# Shrinkage: a conversation with little coded evidence (say, an answer that only gives
# information, which MITI counts as neither adherent nor not) sits near a neutral prior
# between the minimum tier and "fair", never at 0 or 1 because of its shape; the prior falls
# to 0.3 as the share of sentences coded "other" (chit-chat, no counselling act) rises to all.
PRIOR, PRIOR_CHITCHAT, PRIOR_WEIGHT = 0.65, 0.3, 0.5
ADHERENT = ("affirm", "seek_collaboration", "emphasize_autonomy")
IN_SCORE = ("reflection_to_question", "percent_complex_reflections", "percent_mi_adherent")  # MITI 4.2.1
NON_ADHERENT = ("confront", "advise_without_permission")


def counts(units: np.ndarray) -> dict[str, float]:
    """Expected count of every code over the coding units (rows: units, columns: CODES)."""
    total = units.sum(axis=0) if len(units) else np.zeros(len(CODES))
    return dict(zip(CODES, map(float, total), strict=True))


def summary(units: np.ndarray) -> dict[str, tuple[float, float]]:
    """Each MITI summary score as (value, evidence in [0, 1]); value is nan without evidence."""
    c = counts(units)
    reflections = c["simple_reflection"] + c["complex_reflection"]
    questions = c["open_question"] + c["closed_question"]
    adherent = sum(c[k] for k in ADHERENT)
    non_adherent = sum(c[k] for k in NON_ADHERENT)
    return {
        # R:Q with half a unit of smoothing on each side: reflections without questions are good
        "reflection_to_question": (
            (reflections + 0.25) / (questions + 0.25),
            _evidence(reflections + questions),
        ),
        "percent_complex_reflections": (_share(c["complex_reflection"], reflections), _evidence(reflections)),
        "percent_open_questions": (_share(c["open_question"], questions), _evidence(questions)),
        "percent_mi_adherent": (
            _share(adherent, adherent + non_adherent),
            _evidence(adherent + non_adherent),
        ),
    }


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def _evidence(count: float, full: float = 2.0) -> float:
    """How far a summary score can be trusted: 0 with no units of its kind, 1 from `full`."""
    return float(np.clip(count / full, 0.0, 1.0))


def therapeutic_accuracy(units: np.ndarray) -> float | None:
    """Evidence-weighted mean of MITI 4.2.1's anchored summary scores (IN_SCORE), shrunk toward
    PRIOR; None when there is nothing to code."""
    if len(units) == 0:
        return None
    other_share = counts(units)["other"] / len(units)
    weighted = [(float(np.interp(other_share, [0, 1], [PRIOR, PRIOR_CHITCHAT])), PRIOR_WEIGHT)] + [
        (float(np.interp(value, *ANCHORS[name])), evidence)
        for name, (value, evidence) in summary(units).items()
        if name in IN_SCORE and evidence > 0 and np.isfinite(value)
    ]
    scores, weights = zip(*weighted, strict=True)
    return float(np.average(scores, weights=weights))
