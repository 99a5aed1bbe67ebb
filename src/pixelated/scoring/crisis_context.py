"""Whose crisis, and when: the safety gate drops a conversation only for a present risk to the
seeker (issue 13), so each crisis mention is placed by the clause it sits in.

- idiom: a hit inside hyperbole ("my husband is going to kill me" over a bill, "almost gave me a
  heart attack") is no crisis, unless a reported threat frames it ("he said he would kill me");
- someone else's: the nearest person named before the hit is not the seeker ("my friend
  committed suicide", "she was abused"), and the hit neither names the seeker nor is followed
  by "me" ("abusive towards me");
- past: a distant or resolved time marker in the clause or the one before it ("when i was
  younger", "a history of", "i escaped"), or, with no marker, a past tense on the nearest verb
  ("i was abused", "he hit me"), unless a recent one keeps it present ("last week", "again").

Patterns over words (lexicons/crisis_context.yaml) rather than a parse: the rules need the
subject and tense of one short clause, and stay cheap enough for the scoring service.
"""

from __future__ import annotations

import functools
import importlib.resources
import re

import yaml

_WINDOW = 8  # words before a hit searched for its subject and verb
_VERB_WINDOW = 5
_PUNCT = "\"'()!?*"
_REGEX_GROUPS = ("recent_time", "distant_time", "idiom")
_TRAITS = ("abusive", "violent")  # the abuser's traits, as adjectives


@functools.cache
def lexicon() -> dict:
    """Word sets and compiled patterns of lexicons/crisis_context.yaml."""
    raw = yaml.safe_load(
        importlib.resources.files("pixelated.scoring.lexicons").joinpath("crisis_context.yaml").read_text()
    )
    words = {k: frozenset(v) for k, v in raw.items() if isinstance(v, list) and k not in _REGEX_GROUPS}
    regexes = {k: re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in raw[k]) + ")") for k in _REGEX_GROUPS}
    return {**words, **regexes, **{k: re.compile(raw[k]) for k in ("idiom_unless", "abuser_form")}}


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT) for w in text.split()]


def is_idiom(clause: str, start: int, end: int) -> bool:
    """True when the hit at clause[start:end] lies inside a figure of speech, or is a trait
    ("was so violent") whose subject is a thing, not a person ("the storm was so violent")."""
    lex = lexicon()
    for match in lex["idiom"].finditer(clause):
        if match.start() < end and start < match.end():
            return not lex["idiom_unless"].search(clause[: match.start()])
    phrase, before = _words(clause[start:end]), _words(clause[:start])
    if phrase[0] in lex["copulas"] and phrase[-1] in _TRAITS:
        subject = before[-1].removesuffix("'s") if before else ""
        return subject not in lex["other_people"] | lex["seeker_words"]
    return False


def _passive(before: list[str], phrase: list[str]) -> bool:
    """A victim form: an -ed hit right after a passive auxiliary ("was abused", "got raped")."""
    words = before + phrase[:-1]  # the auxiliary may be part of the phrase ("was molested")
    auxiliaries = ("was", "were", "been", "got", "get", "being")
    return bool(words) and words[-1] in auxiliaries and phrase[-1].endswith("ed")


def _victim_named_after(phrase: list[str], after: list[str]) -> bool:
    """True when a person other than the seeker is the victim named after an abuser form,
    before the clause moves on: the object of a verb ("hit her") or, after an adjective, of
    a preposition ("abusive to my sister"; in "an abusive husband" the husband is the abuser)."""
    others = lexicon()["other_people"]
    if phrase[-1] in _TRAITS:
        if not after or after[0] not in ("to", "towards", "toward", "with", "against"):
            return False
        after = after[1:]
    for word in after[:3]:
        if word in ("and", "but", "so", "because", "then", "who", "that"):
            return False
        if word in others and word not in ("his", "their"):  # "abusive with his words"
            return True
    return False


def _names_abuser(before: list[str], phrase: list[str], after: list[str]) -> bool:
    """True when the hit ends in the abuser's act or trait ("he is abusive", "she hits"), not a
    victim form ("was abused") or a name for the situation ("abusive relationship", "an abusive
    family"), where the nearest person decides."""
    lex = lexicon()
    if phrase[-1] in _TRAITS and after and after[0] in lex["abuse_settings"]:
        return False
    return bool(lex["abuser_form"].fullmatch(phrase[-1])) and not _passive(before, phrase)


def someone_else(clause: str, start: int, end: int, kind: str) -> bool:
    """True when the crisis at clause[start:end] is another person's, not the seeker's.

    The nearest person named before the hit decides ("my friend committed suicide", "she was
    abused", "my friend is in an abusive relationship"), except for abuse named by the abuser's
    act or trait ("he was abusive"): there the victim decides, someone named after it, or
    someone else's abuser ("her abusive father", "my sister's husband is abusive")."""
    lex = lexicon()
    seeker, others = lex["seeker_words"], lex["other_people"]
    phrase, before, after = _words(clause[start:end]), _words(clause[:start])[-_WINDOW:], _words(clause[end:])
    if any(w in seeker for w in phrase) or any(w in ("me", "myself", "us") for w in after[:3]):
        return False
    if kind == "abuse" and _names_abuser(before, phrase, after):
        possessed = bool(before) and before[-1] in ("his", "her", "their")
        # "my sister's husband", not "he's" (he is)
        possessed |= any(w.endswith("'s") and w[:-2] in others and w not in others for w in before)
        return possessed or _victim_named_after(phrase, after)
    for distance, word in enumerate(reversed(before)):
        if word in seeker and (word not in ("me", "us") or distance == 0):
            return False
        if word.removesuffix("'s") in others:
            return True
    return False


def _verb_tense(words: list[str]) -> str | None:
    """'past' or 'present' from the nearest tensed word (scanning backwards), else None."""
    lex = lexicon()
    for word in reversed(words):
        if word in lex["present_verbs"]:
            return "present"
        if word in lex["past_verbs"] or (
            word.endswith("ed") and len(word) > 4 and word not in lex["not_past"]
        ):
            return "past"
    return None


def in_past(clause: str, previous: str, start: int, end: int) -> bool:
    """True when the crisis at clause[start:end] is over: history, not a present risk."""
    lex = lexicon()
    if lex["recent_time"].search(clause):
        return False
    if lex["distant_time"].search(f"{previous} {clause}"):
        return True
    before = _words(clause[:start])[-_VERB_WINDOW:]
    return _verb_tense(before + _words(clause[start:end])[:2]) == "past"
