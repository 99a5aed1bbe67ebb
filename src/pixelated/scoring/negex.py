"""NegEx (Chapman et al. 2001) over clauses: a cue in the few words before a match, in the same
clause, changes what the match means ("i would never kill myself", "it's not your fault").
Shared by crisis detection in seeker turns and the helper-behaviour cues (`cues.asserted`)."""

from __future__ import annotations

import re

CLAUSE = re.compile(r"[.!?;:,\n]+|\bbut\b|\bhowever\b")
WINDOW = 6  # words before a match in which a cue counts (NegEx uses 5-6)


def words_before(text: str, start: int) -> list[str]:
    """The last WINDOW words before `start`, within the clause `start` is in."""
    clause = max((end.end() for end in CLAUSE.finditer(text, 0, start)), default=0)
    return text[clause:start].split()[-WINDOW:]


def cue_before(text: str, start: int, cue: re.Pattern) -> bool:
    """True when `cue` occurs in those words."""
    return bool(cue.search(" ".join(words_before(text, start))))
