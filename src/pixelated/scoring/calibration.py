"""Criterion-referenced calibration: each sub-metric's raw measure mapped to [0, 1] through
anchors that name a behaviour, never a source, so a value means the same thing whatever shape
or corpus the conversation comes from. The quality tiers read them this way: 0.7 (the
recommended tier) is "fair" practice and 0.8 (production) "good" practice where a published
standard says what fair and good are (MITI 4.2.1: miti.ANCHORS); docs/quality.md gives
each anchor's reason and the share of accepted and rejected ESConv each tier keeps.

Nothing here is fitted to the accepted/rejected ESConv label.
"""

from __future__ import annotations

import numpy as np

# metric -> (raw anchors, calibrated anchors); a metric not named here is already on its scale
ANCHORS: dict[str, tuple[list[float], list[float]]] = {
    # mean expected EPITOME level / 2 over the three mechanisms: 0 none; 0.25 = weak in half of
    # them ("fair"); 0.4 = weak in all, or strong in one and weak in another ("good"); 0.6+ strong
    "emotional_authenticity": ([0.0, 0.1, 0.25, 0.4, 0.6], [0.0, 0.4, 0.7, 0.8, 1.0]),
    # MiniLM cosine of a reply to its prompt: unrelated text ~0.05, an on-topic reply 0.3-0.6
    "coherence": ([0.0, 0.1, 0.3, 0.45, 0.6], [0.0, 0.3, 0.7, 0.8, 1.0]),
    # second-person share of the helper's personal pronouns: as much about self as about the
    # seeker 0.5; the seeker two times in three ("fair") 0.7; four in five ("good") 0.8
    "personality_consistency": ([0.0, 0.5, 2 / 3, 0.8, 1.0], [0.0, 0.5, 0.7, 0.8, 1.0]),
}


def calibrate(metric: str, raw: float) -> float:
    if metric not in ANCHORS:
        return float(np.clip(raw, 0.0, 1.0))
    return float(np.interp(raw, *ANCHORS[metric]))
