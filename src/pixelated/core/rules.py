"""Content rules for a conversation's turns, used by `validate`.

Each rule takes the turns of one conversation and returns None when they pass or a
sentence saying what is wrong. The same function is a pandera check (see
`schema.conversation_schema`) and the quarantine detail, so the rule and its explanation
cannot drift apart. The rule name is the quarantine reason.
"""

from __future__ import annotations

from collections.abc import Callable

from pixelated.core.schema import ROLES

Rule = Callable[[list[dict]], str | None]


def _first(turns, problem: Callable[[dict], str | None]) -> str | None:
    for index, turn in enumerate(turns):
        if (message := problem(turn)) is not None:
            return f"turn {index}: {message}"
    return None


def no_turns(turns) -> str | None:
    return None if len(turns) else "conversation has no turns"


def unknown_role(turns) -> str | None:
    return _first(
        turns,
        lambda t: None if t["role"] in ROLES else f"unknown role {t['role']!r}, expected one of {ROLES}",
    )


def missing_text(turns) -> str | None:
    return _first(turns, lambda t: "text is missing" if t["text"] is None else None)


def empty_turn(turns) -> str | None:
    return _first(
        turns, lambda t: "text is empty" if t["text"] is not None and not t["text"].strip() else None
    )


def text_too_long(max_chars: int) -> Rule:
    def rule(turns) -> str | None:
        return _first(
            turns,
            lambda t: (
                f"{len(t['text'])} characters, limit {max_chars}"
                if t["text"] is not None and len(t["text"]) > max_chars
                else None
            ),
        )

    return rule


def turn_rules(max_turn_chars: int) -> dict[str, Rule]:
    """The rules in the order they are reported: the first failing one names the reason."""
    return {
        "no_turns": no_turns,
        "unknown_role": unknown_role,
        "missing_text": missing_text,
        "empty_turn": empty_turn,
        "text_too_long": text_too_long(max_turn_chars),
    }
