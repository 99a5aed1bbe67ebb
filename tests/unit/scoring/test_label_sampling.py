"""The draw of the hand-labelled sets' candidates repeats exactly, never re-draws a turn it is
told to exclude, and takes its targeted part only from turns matching the word list."""

import pandas as pd

from pixelated.scoring.label_sampling import CRISIS_WORDS, draw, role_turns


def _table(n: int = 120) -> pd.DataFrame:
    """Conversations of two sources, more than the random part takes; every third seeker turn
    mentions a crisis word."""
    rows = []
    for i in range(n):
        seeker = "I feel hopeless tonight" if i % 3 == 0 else f"My exam {i} went fine"
        turns = [{"role": "seeker", "text": seeker}, {"role": "helper", "text": f"Reply {i}"}]
        rows.append(
            {
                "source": ("counsel_chat", "empathetic_intents")[i % 2],
                "conversation_id": f"c{i:03}",
                "turns": turns,
            }
        )
    return pd.DataFrame(rows)


def test_role_turns_keep_the_canonical_turn_index():
    seekers = role_turns(_table(4), "seeker")
    assert seekers["turn_index"].tolist() == [0, 0, 0, 0]
    assert role_turns(_table(4), "helper")["text"].tolist() == [f"Reply {i}" for i in range(4)]


def test_draw_repeats_excludes_and_targets_matching_turns():
    seekers = role_turns(_table(), "seeker")
    excluded = {("c000", 0), ("c003", 0)}
    first = draw(seekers, CRISIS_WORDS, {"counsel_chat": 3, "empathetic_intents": 3}, excluded)
    again = draw(seekers, CRISIS_WORDS, {"counsel_chat": 3, "empathetic_intents": 3}, excluded)
    pd.testing.assert_frame_equal(first, again)
    keys = set(zip(first["conversation_id"], first["turn_index"], strict=True))
    assert not keys & excluded
    assert len(keys) == len(first)  # no turn drawn twice
    targeted = first[first["case"] == "targeted"]
    assert len(targeted) and targeted["text"].str.contains("hopeless").all()
