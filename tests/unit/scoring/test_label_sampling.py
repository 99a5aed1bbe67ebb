"""The draw of the hand-labelled sets' candidates repeats exactly, never re-draws a turn it is
told to exclude, and takes its targeted part only from turns matching the word list."""

import pandas as pd

from pixelated.scoring.label_sampling import (
    CRISIS_WORDS,
    RISK_WORDS,
    HoldoutStage,
    draw,
    draw_holdout,
    role_turns,
)


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


def test_holdout_draw_skips_labelled_turns_and_questions_asked_twice():
    """A question labelled in one copy (mi-counselchat: body only) is not drawn again in the
    other (counsel-chat: title, blank line, body), and no body is drawn twice."""
    rows = []
    for i in range(60):
        body = f"I was hurt and cannot sleep, question {i % 30}"
        source, text = ("counsel_chat", f"Title {i}\n\n{body}") if i < 30 else ("mi_counselchat", body)
        rows.append(
            {
                "source": source,
                "conversation_id": f"q{i:03}",
                "turns": [{"role": "seeker", "text": text}],
                "topic": "trauma" if source == "counsel_chat" else None,
                "problem_type": None,
            }
        )
    table = pd.DataFrame(rows)
    labelled = {("q030", 0), ("q031", 0)}  # the mi-counselchat copies of questions 0 and 1
    stage = HoldoutStage(
        seed=1, random={"counsel_chat": 5, "mi_counselchat": 5}, words=RISK_WORDS,
        targeted={"counsel_chat": 10, "mi_counselchat": 10}, topics={"trauma": 10}, chat_turns=0,
    )  # fmt: skip
    drawn = draw_holdout(table, labelled, stage)
    assert drawn.equals(draw_holdout(table, labelled, stage))
    bodies = drawn["text"].str.split("\n\n").str[-1]
    assert not bodies.duplicated().any()
    assert not {"I was hurt and cannot sleep, question 0", "I was hurt and cannot sleep, question 1"} & set(
        bodies
    )
    assert not labelled & set(zip(drawn["conversation_id"], drawn["turn_index"], strict=True))
