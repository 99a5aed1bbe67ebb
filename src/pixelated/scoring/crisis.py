"""Crisis detection in seeker turns: suicide (graded on the C-SSRS ladder), self-harm, harm to
others, abuse and medical emergencies, with negated and hypothetical mentions set aside.

Phrases come from the clinician-validated Suicide Risk Lexicon v1.0 (construct-tracker,
prototypical tokens) plus `lexicons/crisis.yaml`. A hit counts only if no negation or
hypothetical cue precedes it in the same clause ("I would never kill myself", "what if I
wanted to die"), the NegEx idea (Chapman et al. 2001) applied to clauses. A positive hit is
then placed (scoring/crisis_context.py): an idiom, someone else's crisis, the seeker's past one,
or the seeker's present one, the only kind the safety gate acts on.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass

import pandas as pd
import yaml

from pixelated.scoring import crisis_context
from pixelated.scoring.negex import CLAUSE, cue_before, words_before

KINDS = ("suicide", "self_harm", "harm_to_others", "abuse", "medical_emergency")
# C-SSRS severity ladder (Posner et al. 2011): 1 wish to be dead ... 6 behaviour.
CSSRS_LEVELS = {"passive": 1, "active": 2, "method": 3, "intent": 4, "plan": 5, "behaviour": 6}
_SRL_CSV = "suicide_risk_lexicon_validated_prototypical_tokens_24-08-07T16-25-19.csv"
_SRL_CONSTRUCTS = {
    "Passive suicidal ideation": "suicide_passive",
    "Active suicidal ideation & suicidal planning": "suicide_active",
    "Other suicidal language": "suicide_active",
    "Direct self-injury": "self_harm",
    "Physical abuse & violence": "abuse",
    "Sexual abuse & harassment": "abuse",
    "Lethal means for suicide": "method",
}


@dataclass(frozen=True)
class Hit:
    """One crisis mention: its kind, C-SSRS level (suicide only, else 0) and status."""

    kind: str
    phrase: str
    level: int
    # "positive" (the seeker's, present), "past" (the seeker's, over), "third_person" (someone
    # else's), or set aside: "negated", "hypothetical", "protective" (fear for someone), "idiom"
    status: str


# Statuses that flag a crisis (the review loop sees them), best first; the gate acts on the first.
FLAGGED = ("positive", "past", "third_person")
# The seeker's own crisis, as the labelled sets define one (past included, others' excluded).
OWN = ("positive", "past")


def _phrase_pattern(phrases) -> re.Pattern:
    alternatives = sorted({p.lower().strip() for p in phrases if p and p.strip()}, key=len, reverse=True)
    return re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, alternatives)) + r")(?![\w'])")


@functools.cache
def lexicon() -> dict[str, list[str]]:
    """Phrase lists by group: the SRL constructs merged into the hand-kept YAML groups."""
    groups: dict[str, list[str]] = yaml.safe_load(
        importlib.resources.files("pixelated.scoring.lexicons").joinpath("crisis.yaml").read_text()
    )
    base = importlib.resources.files("construct_tracker").joinpath(
        "data/lexicons/suicide_risk_lexicon_v1-0", _SRL_CSV
    )
    with importlib.resources.as_file(base) as path:
        srl = pd.read_csv(path)
    for construct, group in _SRL_CONSTRUCTS.items():
        tokens = srl[construct].iloc[4:].dropna().astype(str)  # rows 0-3: name, definition, ...
        # short all-caps acronyms (OD, KMS, NSSI) are too ambiguous once lower-cased
        groups[group] = sorted({*groups.get(group, []), *(t for t in tokens if len(t) > 4)})
    return groups


@functools.cache
def _patterns() -> dict[str, re.Pattern]:
    return {group: _phrase_pattern(phrases) for group, phrases in lexicon().items()}


def _words(group: str) -> frozenset[str]:
    return frozenset(lexicon()[group])


def _other_agent(clause: str, start: int, previous: str) -> bool:
    """True when the nearest subject before a harm-to-others hit is not the seeker ("anything
    could hurt him", "he'll kill her"), looking back into the clause before when this one names
    none ("he choked her, hit her"); with no subject in view the seeker is the agent."""
    for word in [*reversed(words_before(clause, start)), *reversed(previous.split())]:
        word = word.strip("\"'()")
        if word in _words("first_person"):
            return False
        if word in _words("other_agents"):
            return True
    return False


def _status(clause: str, start: int, kind: str = "", previous: str = "") -> str:
    """Set-aside statuses: protective (harm to others only), hypothetical, negated; else positive."""
    patterns = _patterns()
    if kind == "harm_to_others" and (
        cue_before(clause, start, patterns["protective"]) or _other_agent(clause, start, previous)
    ):
        return "protective"
    if cue_before(clause, start, patterns["hypothetical"]):
        return "hypothetical"
    if patterns["negation_immune"].match(clause, start):
        return "positive"
    window = patterns["pseudo_negation"].sub(" ", " ".join(words_before(clause, start)))
    if kind in ("suicide", "self_harm"):
        window = patterns["inability"].sub(" ", window)
    if patterns["negation"].search(window) or "n't" in window or "not " in window:
        return "negated"
    return "positive"


def _placed(clause: str, previous: str, match: re.Match, kind: str) -> str:
    """The status of one hit: set aside, or placed as an idiom, someone else's, past or present."""
    status = _status(clause, match.start(), kind, previous)
    if status != "positive":
        return status
    start, end = match.span()
    if crisis_context.is_idiom(clause, start, end):
        return "idiom"
    # harm to others is someone else's by definition; its agent is checked in _status
    if kind != "harm_to_others" and crisis_context.someone_else(clause, start, end, kind):
        return "third_person"
    return "past" if crisis_context.in_past(clause, previous, start, end) else "positive"


def _suicide_level(group: str, clause: str) -> int:
    """Climb the C-SSRS ladder with the escalation cues found in the same clause."""
    level = CSSRS_LEVELS["passive"] if group == "suicide_passive" else CSSRS_LEVELS["active"]
    patterns = _patterns()
    for step in ("method", "intent", "plan", "behaviour"):
        if patterns[step].search(clause):
            level = max(level, CSSRS_LEVELS[step])
    return level


_KIND_OF_GROUP = {
    "suicide_passive": "suicide",
    "suicide_active": "suicide",
    "self_harm": "self_harm",
    "harm_to_others": "harm_to_others",
    "abuse": "abuse",
    "medical_emergency": "medical_emergency",
}


def detect(text: str) -> list[Hit]:
    """Every crisis mention in one turn, flagged or set aside, at most one per phrase (the most
    pressing status wins)."""
    hits: dict[tuple[str, str], Hit] = {}
    patterns = _patterns()
    clauses = CLAUSE.split(text.lower().replace("’", "'"))
    for previous, clause in zip(["", *clauses], clauses, strict=False):
        for group, kind in _KIND_OF_GROUP.items():
            for match in patterns[group].finditer(clause):
                level = _suicide_level(group, clause) if kind == "suicide" else 0
                hit = Hit(kind, match.group(1), level, _placed(clause, previous, match, kind))
                previous_hit = hits.get((kind, hit.phrase))
                if previous_hit is None or _rank(hit) < _rank(previous_hit):
                    hits[(kind, hit.phrase)] = hit
    return sorted(hits.values(), key=lambda h: (h.kind, h.phrase))


def _rank(hit: Hit) -> int:
    return FLAGGED.index(hit.status) if hit.status in FLAGGED else len(FLAGGED)


def kinds_by_status(text: str) -> dict[str, set[str]]:
    """The kinds of crisis in `text` for each flagged status (positive, past, third_person)."""
    found: dict[str, set[str]] = {status: set() for status in FLAGGED}
    for hit in detect(text):
        if hit.status in FLAGGED:
            found[hit.status].add(hit.kind)
    return found


def is_own(hit: Hit) -> bool:
    """The seeker's own crisis (OWN), except a past medical emergency: that is over, while a
    past suicidal crisis, self-harm or abuse stays a risk factor."""
    return hit.status in OWN and not (hit.status == "past" and hit.kind == "medical_emergency")


def crisis_kinds(text: str) -> set[str]:
    """The kinds of the seeker's own crisis in `text`, present or past (empty: none)."""
    return {hit.kind for hit in detect(text) if is_own(hit)}


def cssrs_level(text: str, statuses: tuple[str, ...] = OWN) -> int:
    """Highest C-SSRS level of the suicide mentions with these statuses (0: none)."""
    return max((h.level for h in detect(text) if h.status in statuses and h.kind == "suicide"), default=0)
