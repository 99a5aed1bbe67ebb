"""Cue phrases of lexicons/quality.yaml, compiled once: EPITOME levels, compliance
violations, harmful advice and the MITI codes too rare in any labelled source to learn. Shared
by the sub-metrics and the safety score (referrals have their own check, scoring/referral.py).

A cue for something the helper does (a compliance violation, a cue-coded MITI code) counts only
where it is asserted: `asserted` sets aside a match negated or reported in its clause.
"""

from __future__ import annotations

import functools
import importlib.resources
import re

import yaml

from pixelated.scoring.negex import cue_before


@functools.cache
def cues() -> dict:
    """Compiled cue patterns from lexicons/quality.yaml."""
    raw = yaml.safe_load(
        importlib.resources.files("pixelated.scoring.lexicons").joinpath("quality.yaml").read_text()
    )

    def compile_all(patterns):
        return re.compile("|".join(f"(?:{p})" for p in patterns))

    return {
        "epitome": {
            name: {level: compile_all(p) for level, p in levels.items()}
            for name, levels in raw["epitome"].items()
        },
        "compliance": {name: compile_all(p) for name, p in raw["compliance"].items()},
        "set_aside": compile_all(raw["set_aside"]),
        "harmful_advice": compile_all(raw["harmful_advice"]),
        "miti": {
            name: compile_all(p + (raw["compliance"]["judgement"] if name == "confront" else []))
            for name, p in raw["miti"].items()
        },
    }


def _quoted(text: str, position: int) -> bool:
    """Inside quotation marks: someone's words, or words suggested for the seeker to say."""
    before = text[:position]
    return before.count('"') % 2 == 1 or before.rfind("\u201c") > before.rfind("\u201d")


def asserted(pattern: re.Pattern, text: str) -> bool:
    """True when `pattern` matches, outside quotation marks, somewhere no negation or reporting
    cue precedes it in its clause (NegEx, Chapman et al. 2001): "it's not your fault" is no
    blame, "you worry that you're crazy" no judgement, and a suggested "say 'i love you'" no
    breach of boundaries."""
    set_aside = cues()["set_aside"]
    for match in pattern.finditer(text):
        if _quoted(text, match.start()):
            continue
        if not cue_before(text, match.start(), set_aside):
            return True
    return False


def epitome_level(text: str, levels: dict[str, re.Pattern]) -> float:
    """EPITOME level of one response for one mechanism: 0 none, 0.5 weak, 1 strong."""
    if levels["strong"].search(text):
        return 1.0
    return 0.5 if levels["weak"].search(text) else 0.0
