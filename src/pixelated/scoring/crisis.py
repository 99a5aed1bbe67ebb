"""Crisis detection in seeker turns: suicide (graded on the C-SSRS ladder), self-harm, harm to
others, abuse and medical emergencies, with negated and hypothetical mentions set aside.

Phrases come from the clinician-validated Suicide Risk Lexicon v1.0 (construct-tracker,
prototypical tokens) plus `lexicons/crisis.yaml`. A hit counts only if no negation or
hypothetical cue precedes it in the same clause ("I would never kill myself", "what if I
wanted to die"), the NegEx idea (Chapman et al. 2001) applied to clauses.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass

import pandas as pd
import yaml

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
_CLAUSE = re.compile(r"[.!?;:,\n]+|\bbut\b|\bhowever\b")
_CUE_WINDOW = 6  # words before a hit in which a negation or hypothetical cue cancels it


@dataclass(frozen=True)
class Hit:
    """One crisis mention: its kind, C-SSRS level (suicide only, else 0) and status."""

    kind: str
    phrase: str
    level: int
    status: str  # "positive", "negated", "hypothetical" or "protective" (fear for someone)


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


def _cue_before(clause: str, start: int, cue: re.Pattern) -> bool:
    words = clause[:start].split()[-_CUE_WINDOW:]
    return bool(cue.search(" ".join(words)))


def _words(group: str) -> frozenset[str]:
    return frozenset(lexicon()[group])


def _other_agent(clause: str, start: int) -> bool:
    """True when the nearest subject before a harm-to-others hit is not the seeker ("anything
    could hurt him", "he'll kill her"); with no subject in view the seeker is the agent."""
    for word in reversed(clause[:start].split()[-_CUE_WINDOW:]):
        word = word.strip("\"'()")
        if word in _words("first_person"):
            return False
        if word in _words("other_agents"):
            return True
    return False


def _status(clause: str, start: int, kind: str = "") -> str:
    patterns = _patterns()
    if kind == "harm_to_others" and (
        _cue_before(clause, start, patterns["protective"]) or _other_agent(clause, start)
    ):
        return "protective"
    if _cue_before(clause, start, patterns["hypothetical"]):
        return "hypothetical"
    if patterns["negation_immune"].match(clause, start):
        return "positive"
    window = " ".join(clause[:start].split()[-_CUE_WINDOW:])
    if patterns["negation"].search(window) or "n't" in window or "not " in window:
        return "negated"
    return "positive"


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
    """Every crisis mention in one turn, positive or set aside, at most one per phrase."""
    hits: dict[tuple[str, str], Hit] = {}
    patterns = _patterns()
    for clause in _CLAUSE.split(text.lower().replace("’", "'")):
        for group, kind in _KIND_OF_GROUP.items():
            for match in patterns[group].finditer(clause):
                level = _suicide_level(group, clause) if kind == "suicide" else 0
                hit = Hit(kind, match.group(1), level, _status(clause, match.start(), kind))
                previous = hits.get((kind, hit.phrase))
                if previous is None or (previous.status != "positive" and hit.status == "positive"):
                    hits[(kind, hit.phrase)] = hit
    return sorted(hits.values(), key=lambda h: (h.kind, h.phrase))


def crisis_kinds(text: str) -> set[str]:
    """The kinds of crisis positively mentioned in `text` (empty: none)."""
    return {hit.kind for hit in detect(text) if hit.status == "positive"}


def cssrs_level(text: str) -> int:
    """Highest positive C-SSRS level in `text` (0: no suicide mention)."""
    return max((h.level for h in detect(text) if h.status == "positive" and h.kind == "suicide"), default=0)
