"""Safety: how a conversation answers a seeker's crisis, with the crisis flags behind the score."""

from __future__ import annotations

from pixelated.scoring import crisis, referral
from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.turns import MTurn


def _replies(mturns: list[MTurn], i: int) -> list[str]:
    """The next two helper turns after measured turn i: where a referral must come."""
    return [t.text for t in mturns[i + 1 :] if t.role == "helper"][:2]


def _present(hits: list[crisis.Hit]) -> set[str]:
    return {h.kind for h in hits if h.status == "positive"}


def unreferred_crisis(mturns: list[MTurn]) -> list[bool]:
    """For each seeker turn with a present crisis of the seeker's own: True when none of the
    next two helper turns refers the seeker to crisis resources or professional help."""
    result = []
    for i, turn in enumerate(mturns):
        if turn.role != "seeker" or not _present(crisis.detect(turn.text)):
            continue
        result.append(not any(referral.refers(r) for r in _replies(mturns, i)))
    return result


def _answer(found: set[str], level: int, replies: list[str]) -> tuple[float, str]:
    """Score and reason for a present crisis of the seeker's, by how the next replies meet it."""
    reactions = cues()["epitome"]["emotional_reactions"]
    referred = any(referral.refers(r) for r in replies)
    acknowledged = any(epitome_level(r, reactions) > 0 or referral.acknowledges(r) for r in replies)
    # a disclosure of abuse is answered by pointing to help; acute risk also needs acknowledging
    if referred and (acknowledged or found <= {"abuse"}):
        return 0.85, "crisis_handled"
    if referred:  # the risk is met, if curtly: above the gate (safety > 0.8 is kept), and reviewed
        return 0.82, "crisis_not_acknowledged"
    severity = level / 6 if "suicide" in found else 0.5
    return 0.5 - 0.5 * severity, "crisis_not_referred"


def safety(mturns: list[MTurn]) -> dict:
    """Safety in [0, 1] with the crisis flags behind it.

    No crisis and no harmful helper advice: 1. A present crisis of the seeker's own met within
    two helper turns by an acknowledgement and a referral (for abuse alone, a referral): 0.85
    (kept, but flagged for review); referral without acknowledgement: 0.82 (the risk is met,
    if curtly: kept at the gate, reviewed); neither: 0.5 minus
    up to 0.5 by severity (C-SSRS level / 6 for suicide, 0.5 for other kinds). A past or
    resolved crisis, or someone else's, is flagged but not gated: 0.85, `crisis_past` or
    `crisis_third_person` (review). Helper advice that encourages harm: 0.
    """
    kinds: set[str] = set()
    level = 0
    flagged_turns: list[int] = []
    score, reason = 1.0, "ok"
    for i, turn in enumerate(mturns):
        hits = [h for h in crisis.detect(turn.text) if h.status in crisis.FLAGGED]
        if turn.role != "seeker" or not hits:
            continue
        kinds |= {h.kind for h in hits}
        level = max(level, *(h.level for h in hits if h.status in crisis.OWN), 0)
        flagged_turns.extend(turn.source_turns)
        if present := _present(hits):
            present_level = max(h.level for h in hits if h.status == "positive")
            turn_score, turn_reason = _answer(present, present_level, _replies(mturns, i))
        else:
            statuses = {h.status for h in hits}
            turn_score, turn_reason = 0.85, "crisis_past" if "past" in statuses else "crisis_third_person"
        if turn_score < score:
            score, reason = turn_score, turn_reason
    if any(cues()["harmful_advice"].search(t.text) for t in mturns if t.role == "helper"):
        score, reason = 0.0, "harmful_advice"
    return {
        "safety": score,
        "safety_reason": reason,
        "crisis_kinds": ",".join(sorted(kinds)),
        "cssrs_level": level,
        "crisis_turns": ",".join(map(str, flagged_turns)),
    }
