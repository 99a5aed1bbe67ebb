"""Planted edits of a conversation, shared by the dedup benchmark and the scale-test corpus:
each makes a near-duplicate of a real conversation whose ground truth is known."""

from __future__ import annotations

import random
import re

WORD_EDITS = ("word_swap", "deletion", "insertion", "typo")
EDITS = (*WORD_EDITS, "truncation", "reorder", "pseudonym", "case_punct")
NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Riley", "Casey", "Jamie")
_CAPITALIZED = re.compile(r"(?<=[a-z,] )[A-Z][a-z]+")


def _words_edit(text: str, edit: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    if len(words) < 2:
        return text
    for _ in range(max(1, round(rate * len(words)))):
        i = rng.randrange(len(words) - 1)
        if edit == "word_swap":
            words[i], words[i + 1] = words[i + 1], words[i]
        elif edit == "deletion" and len(words) > 2:
            del words[i]
        elif edit == "insertion":
            words.insert(i, rng.choice(("really", "just", "so", "very", "actually", "um")))
        elif edit == "typo" and len(words[i]) > 3:
            w = words[i]
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def perturb(turns: list[dict], edit: str, rng: random.Random, rate: float = 0.05) -> list[dict]:
    """One planted edit of a conversation (a list of canonical turns)."""
    turns = [dict(t) for t in turns]
    if edit in WORD_EDITS:
        for t in turns:
            t["text"] = _words_edit(t["text"], edit, rng, rate)
    elif edit == "truncation":  # the last turn loses its final third
        words = turns[-1]["text"].split()
        turns[-1]["text"] = " ".join(words[: max(1, len(words) - len(words) // 3)])
    elif edit == "reorder" and len(turns) > 2:
        i = rng.randrange(len(turns) - 1)
        turns[i], turns[i + 1] = turns[i + 1], turns[i]
    elif edit == "pseudonym":
        name = rng.choice(NAMES)
        for t in turns:
            t["text"] = _CAPITALIZED.sub(name, t["text"])
        turns[0]["text"] = f"{name} here. {turns[0]['text']}"
    elif edit == "case_punct":
        for t in turns:
            t["text"] = re.sub(r"[^\w\s]", "", t["text"]).lower()
    return turns
