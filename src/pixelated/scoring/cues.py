"""Cue phrases of lexicons/quality.yaml, compiled once: EPITOME levels, compliance
violations, harmful advice and the MITI codes too rare in any labelled source to learn. Shared
by the sub-metrics and the safety score (referrals have their own check, scoring/referral.py)."""

from __future__ import annotations

import functools
import importlib.resources
import re

import yaml


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
        "harmful_advice": compile_all(raw["harmful_advice"]),
        "miti": {name: compile_all(p) for name, p in raw["miti"].items()},
    }


def epitome_level(text: str, levels: dict[str, re.Pattern]) -> float:
    """EPITOME level of one response for one mechanism: 0 none, 0.5 weak, 1 strong."""
    if levels["strong"].search(text):
        return 1.0
    return 0.5 if levels["weak"].search(text) else 0.0
