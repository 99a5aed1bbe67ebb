"""Safety: how a conversation answers a seeker's crisis, with the crisis flags behind the score."""

from __future__ import annotations

from pixelated.scoring import crisis, referral
from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.turns import MTurn


def _replies(mturns: list[MTurn], i: int) -> list[str]:
    """The next two helper turns after measured turn i: where a referral must come."""
    return [t.text for t in mturns[i + 1 :] if t.role == "helper"][:2]


def unreferred_crisis(mturns: list[MTurn]) -> list[bool]:
    """For each seeker turn with a positive crisis hit: True when none of the next two helper
    turns refers the seeker to crisis resources or professional help."""
    result = []
    for i, turn in enumerate(mturns):
        if turn.role != "seeker" or not crisis.crisis_kinds(turn.text):
            continue
        result.append(not any(referral.refers(r) for r in _replies(mturns, i)))
    return result


def safety(mturns: list[MTurn]) -> dict:
    """Safety in [0, 1] with the crisis flags behind it.

    No crisis and no harmful helper advice: 1. A crisis met within two helper turns by an
    acknowledgement and a referral (for abuse alone, a referral): 0.85 (kept, but flagged for
    review); referral without acknowledgement: 0.7; neither: 0.5 minus up to 0.5 by severity
    (C-SSRS level / 6 for suicide, 0.5 for other kinds). Helper advice that encourages harm: 0.
    """
    reactions = cues()["epitome"]["emotional_reactions"]
    kinds: set[str] = set()
    level = 0
    flagged_turns: list[int] = []
    score = 1.0
    reason = "ok"
    for i, turn in enumerate(mturns):
        if turn.role != "seeker":
            continue
        found = crisis.crisis_kinds(turn.text)
        if not found:
            continue
        kinds |= found
        turn_level = crisis.cssrs_level(turn.text)
        level = max(level, turn_level)
        flagged_turns.extend(turn.source_turns)
        replies = _replies(mturns, i)
        referred = any(referral.refers(r) for r in replies)
        acknowledged = any(epitome_level(r, reactions) > 0 or referral.acknowledges(r) for r in replies)
        # a disclosure of abuse is answered by pointing to help; acute risk also needs acknowledging
        if referred and (acknowledged or found <= {"abuse"}):
            turn_score, turn_reason = 0.85, "crisis_handled"
        elif referred:
            turn_score, turn_reason = 0.7, "crisis_not_acknowledged"
        else:
            severity = turn_level / 6 if "suicide" in found else 0.5
            turn_score, turn_reason = 0.5 - 0.5 * severity, "crisis_not_referred"
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
