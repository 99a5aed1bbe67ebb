"""Measured turns: what every score reads instead of the raw turns.

Text is measured after `measurement_turns` (NFKC, lower case, tokenization spacing undone,
consecutive turns of one speaker merged), so formatting differences between sources (ESConv
variants are tokenized differently) cannot move a score.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixelated.core.text import normalize_for_measure

# ESConv strategy labels differ between releases ("Questions" vs "Question", "Others" vs
# "Greeting"); one shared label set keeps the classifier from learning which release a turn
# came from.
STRATEGIES = (
    "question",
    "restatement",
    "reflection",
    "self_disclosure",
    "affirmation",
    "suggestion_information",
    "other",
)
STRATEGY_MAP = {
    "question": "question",
    "questions": "question",
    "restatement or paraphrasing": "restatement",
    "restatement": "restatement",
    "reflection of feelings": "reflection",
    "self-disclosure": "self_disclosure",
    "affirmation and reassurance": "affirmation",
    "approval and reassurance": "affirmation",
    "providing suggestions": "suggestion_information",
    "providing suggestions or information": "suggestion_information",
    "information": "suggestion_information",
    "direct guidance": "suggestion_information",
    "other": "other",
    "others": "other",
    "greeting": "other",
}


def canonical_strategy(label: str | None) -> str | None:
    return None if label is None else STRATEGY_MAP.get(label.strip().lower())


@dataclass(frozen=True)
class MTurn:
    """A measured turn: speaker, normalized text, strategy label if any, canonical turn indices."""

    role: str
    text: str
    strategy: str | None
    source_turns: tuple[int, ...]


def measurement_turns(turns) -> list[MTurn]:
    """Seeker/helper turns, normalized, consecutive turns of one speaker merged."""
    merged: list[MTurn] = []
    for index, turn in enumerate(turns):
        if turn["role"] not in ("seeker", "helper"):
            continue
        text = normalize_for_measure(turn["text"])
        if not text:
            continue
        strategy = canonical_strategy(turn.get("strategy"))
        if merged and merged[-1].role == turn["role"]:
            last = merged[-1]
            merged[-1] = MTurn(
                last.role, f"{last.text} {text}", last.strategy or strategy, (*last.source_turns, index)
            )
        else:
            merged.append(MTurn(turn["role"], text, strategy, (index,)))
    return merged
