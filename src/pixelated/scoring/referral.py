"""The referral check: does a helper's reply send the seeker on to help outside the chat?

Professionals refer in many ways (a provider, a treatment programme, a crisis line, emergency
services, "someone you trust"), so `lexicons/referral.yaml` lists each way; providers and
emergency services count only when the seeker is directed to them ("see your GP", "call 911"),
so a helper's own doctor or a film's emergency room does not. Measured on
data/labels/referral_replies.csv (docs/quality.md).
"""

from __future__ import annotations

import functools
import importlib.resources
import re

import yaml

_SENTENCE = re.compile(r"(?<=[.!?;\n])\s+|(?<=[a-z])\.(?=[A-Za-z])")
_CUE_WORDS = 8  # words before a provider or emergency mention in which a directing cue counts
_GET_CUE_WORDS = 14  # words before "get counseling" in which an advising cue counts


@functools.cache
def patterns() -> dict[str, re.Pattern]:
    """Compiled groups of lexicons/referral.yaml."""
    raw = yaml.safe_load(
        importlib.resources.files("pixelated.scoring.lexicons").joinpath("referral.yaml").read_text()
    )
    return {
        name: re.compile(value if isinstance(value, str) else "|".join(f"(?:{p})" for p in value))
        for name, value in raw.items()
    }


def _before(sentence: str, start: int) -> str:
    return " ".join(sentence[:start].split()[-_CUE_WORDS:])


def _directed(sentence: str, match: re.Match, cues: re.Pattern) -> bool:
    """A mention counts if a cue precedes it (or, for providers, a helping verb follows)
    and it is neither the helper's own ("my doctor") nor negated ("no need for a therapist")."""
    before = _before(sentence, match.start())
    if before.endswith(" my") or before == "my" or patterns()["negation"].search(before):
        return False
    if cues.search(before):
        return True
    after = sentence[match.end() :]
    return cues is patterns()["provider_cues"] and bool(patterns()["provider_after"].search(after))


def _advised_treatment(sentence: str) -> bool:
    """ "Get counseling" and the like, advised: an advising cue within a few words before it
    ("i urge you to get a counselor", "and definitely get counseling"), and nobody but the
    seeker getting it ("i started therapy" is the helper's own)."""
    p = patterns()
    for match in p["get_treatment"].finditer(sentence):
        before = " ".join(sentence[: match.start()].split()[-_GET_CUE_WORDS:])
        if p["get_cues"].search(before) and not any(
            p[k].search(before) for k in ("get_not_seeker", "negation")
        ):
            return True
    return False


def _sentence_refers(sentence: str) -> bool:
    p = patterns()
    for match in p["standalone"].finditer(sentence):
        before = _before(sentence, match.start())
        if not p["negation"].search(before) and not before.endswith(" my"):
            return True
    for group, cues in (("emergency", p["emergency_cues"]), ("providers", p["provider_cues"])):
        if any(_directed(sentence, m, cues) for m in p[group].finditer(sentence)):
            return True
    return _advised_treatment(sentence)


def refers(text: str) -> bool:
    """True when the reply refers the seeker to outside help in at least one sentence."""
    lowered = text.lower().replace("’", "'")
    return any(_sentence_refers(s) for s in _SENTENCE.split(lowered) if s)


def acknowledges(text: str) -> bool:
    """True when the reply names or validates the seeker's distress (sympathy, a feeling, hope)."""
    return bool(patterns()["acknowledgement"].search(text.lower().replace("’", "'")))
