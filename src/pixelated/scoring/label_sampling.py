"""How the candidates of the hand-labelled sets were drawn, so the draw can be repeated.

The draw never calls the crisis detector or the referral check: a set chosen by the tool it
measures would only show the tool agreeing with itself. Each set is a keyword-agnostic,
per-source stratified random sample plus a targeted sample matched by a broad word list that
is written here (and in docs/quality.md), not taken from the detector's lexicon.

`python -m pixelated.scoring.label_sampling [--holdout | --third] TABLE OUT_DIR` writes the
candidates (with text, for reading) outside the repository; only ids and labels go into
data/labels/.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pixelated.scoring import crisis_eval

SEED = 13
# Broad, deliberately over-inclusive: catches crisis talk and its look-alikes (idioms, fear
# for others, past or third-person mentions) alike, so the sample holds hard negatives.
CRISIS_WORDS = re.compile(
    r"\b(?:die|dying|died|dead|death|kill\w*|suicid\w*|hurt\w*|harm\w*|cut|cutting|blood\w*|pills?|"
    r"overdos\w*|hospital\w*|abus\w*|hit|hits|hitting|beat\w*|rape\w*|assault\w*|threat\w*|weapon|"
    r"gun|knife|hopeless|worthless|burden|disappear|violen\w*|punch\w*|chok\w*|molest\w*|scared|"
    r"afraid|jump|bridge|give up|end it|no point|can'?t go on|not worth|better off)\b"
)
# Stage 2, added after stage 1 turned up few crisis turns (and before the detector was run on
# any candidate): the death, violence and injury stems alone, to enrich the set in positives.
RISK_WORDS = re.compile(
    r"\b(?:suicid\w*|die|dying|dead|death|kill\w*|alive|self.?harm\w*|overdos\w*|cut\w*|hurt\w*|"
    r"rape\w*|abus\w*|violen\w*|weapon|gun|knife)\b"
)
RISK_PER_SOURCE = {
    "counsel_chat": 20,
    "mi_counselchat": 15,
    "esconv_multiesc": 15,
    "esconv_failed": 10,
    "empathetic_intents": 10,
}
# Stage 3, for the same reason: the sources' own metadata (counsel-chat topic, ESConv problem
# type), which no detector reads. Distinct question texts per topic; depression chats' turns
# matching RISK_WORDS.
TOPIC_DRAW = {"self-harm": 8, "depression": 14, "domestic-violence": 8, "trauma": 8, "anger-management": 6}
DEPRESSION_CHAT_TURNS = 20
# Where a helper sends a seeker, in the broadest words (again not the checker's own list).
REFERRAL_WORDS = re.compile(
    r"\b(?:doctor|therap\w*|counsel\w*|psych\w*|professional|hotline|line|call|911|988|hospital|"
    r"emergency|treatment|program\w*|clinic\w*|support group|someone you trust|reach out|help)\b"
)
RANDOM_PER_SOURCE = {
    "counsel_chat": 20,
    "mi_counselchat": 15,
    "esconv_multiesc": 20,
    "esconv_failed": 15,
    "empathetic_intents": 20,
    "hope_sample": 10,
}


def role_turns(table: pd.DataFrame, role: str) -> pd.DataFrame:
    """One row per turn of `role`: source, conversation_id, canonical turn_index and text."""
    rows = [
        (source, cid, index, turn["text"])
        for source, cid, turns in zip(table["source"], table["conversation_id"], table["turns"], strict=True)
        for index, turn in enumerate(turns)
        if turn["role"] == role and turn["text"]
    ]
    return pd.DataFrame(rows, columns=["source", "conversation_id", "turn_index", "text"])


def _stratified(turns: pd.DataFrame, per_source: dict[str, int], seed: int) -> pd.DataFrame:
    parts = [
        part.sample(min(per_source.get(source, 0), len(part)), random_state=seed)
        for source, part in turns.groupby("source", sort=True)
    ]
    return pd.concat(parts)


def draw(turns: pd.DataFrame, words: re.Pattern, n_targeted: dict[str, int], exclude=()) -> pd.DataFrame:
    """Random stratified candidates plus `n_targeted` per source among turns matching `words`."""
    keys = list(zip(turns["conversation_id"], turns["turn_index"], strict=True))
    turns = turns[[key not in set(exclude) for key in keys]]
    random = _stratified(turns, RANDOM_PER_SOURCE, SEED).assign(case="random")
    rest = turns.drop(random.index)
    matched = rest[rest["text"].str.lower().str.contains(words)]
    targeted = _stratified(matched, n_targeted, SEED).assign(case="targeted")
    return pd.concat([random, targeted]).sort_values(["conversation_id", "turn_index"])


def draw_more(
    turns: pd.DataFrame, words: re.Pattern, per_source: dict[str, int], exclude, seed: int = SEED
) -> pd.DataFrame:
    """A further targeted draw among turns not drawn before (`exclude`: (conversation, turn))."""
    keys = list(zip(turns["conversation_id"], turns["turn_index"], strict=True))
    rest = turns[[key not in set(exclude) for key in keys]]
    matched = rest[rest["text"].str.lower().str.contains(words)]
    return _stratified(matched, per_source, seed).assign(case="targeted_risk")


def draw_by_metadata(
    table: pd.DataFrame, exclude, seed: int = SEED, per_topic=None, chat_turns=None
) -> pd.DataFrame:
    """Stage 3: seeker turns chosen by counsel-chat topic and ESConv problem type."""
    per_topic = per_topic or TOPIC_DRAW
    chat_turns = DEPRESSION_CHAT_TURNS if chat_turns is None else chat_turns
    seekers = role_turns(table, "seeker").merge(
        table[["conversation_id", "topic", "problem_type"]], on="conversation_id"
    )
    keys = list(zip(seekers["conversation_id"], seekers["turn_index"], strict=True))
    seekers = seekers[[key not in set(exclude) for key in keys]]
    questions = seekers[seekers["source"] == "counsel_chat"].drop_duplicates("text")
    parts = [
        part.sample(min(per_topic[topic], len(part)), random_state=seed)
        for topic, part in questions.groupby("topic", sort=True)
        if topic in per_topic
    ]
    depression = seekers["problem_type"] == "ongoing depression"
    chats = seekers[seekers["source"].str.startswith("esconv") & depression]
    chats = chats[chats["text"].str.lower().str.contains(RISK_WORDS)]
    parts.append(chats.sample(min(chat_turns, len(chats)), random_state=seed))
    return pd.concat(parts).assign(case="metadata").drop(columns=["topic", "problem_type"])


@dataclass(frozen=True)
class HoldoutStage:
    """One draw of the second frozen set: a random part, a part matching `words`, and
    counsel-chat questions by topic plus ESConv depression-chat turns matching RISK_WORDS."""

    seed: int
    random: dict[str, int]
    words: re.Pattern
    targeted: dict[str, int]
    topics: dict[str, int]
    chat_turns: int


# The second frozen set (data/labels/crisis_holdout.csv), drawn once the first had been spent on
# tuning: new seeds, every turn of the earlier sets excluded. Stage b was added after stage a
# (labelled, detector not run) held only 11 crisis turns in 134: the broad CRISIS_WORDS, which
# also match implicit talk (hopeless, burden, no point), and more of the crisis topics.
HOLDOUT_STAGES = (
    HoldoutStage(
        seed=14,
        random={
            "counsel_chat": 10,
            "mi_counselchat": 8,
            "esconv_multiesc": 12,
            "esconv_failed": 10,
            "empathetic_intents": 12,
            "hope_sample": 8,
        },
        words=RISK_WORDS,
        targeted={
            "counsel_chat": 25,
            "mi_counselchat": 10,
            "esconv_multiesc": 25,
            "esconv_failed": 15,
            "empathetic_intents": 20,
            "hope_sample": 5,
        },
        topics={"self-harm": 6, "depression": 8, "domestic-violence": 8, "trauma": 6, "anger-management": 4},
        chat_turns=12,
    ),
    HoldoutStage(
        seed=15,
        random={},
        words=CRISIS_WORDS,
        targeted={
            "counsel_chat": 25,
            "mi_counselchat": 15,
            "esconv_multiesc": 25,
            "esconv_failed": 15,
            "empathetic_intents": 10,
            "hope_sample": 5,
        },
        topics={
            "self-harm": 10,
            "depression": 12,
            "domestic-violence": 10,
            "trauma": 10,
            "substance-abuse": 6,
        },
        chat_turns=12,
    ),
)


# The third frozen set (data/labels/crisis_frozen_3.csv), drawn once the second had been read
# and the detector revised on it (round 3): every turn of the three earlier sets excluded,
# weighted towards where the earlier sets found crisis turns (counsel-chat questions, by words
# and by topic) so that the set holds enough of them for a usable interval on recall. Stages a
# and b were fixed before any turn was read: a alone gave 123 candidates, since the earlier sets
# had used up the crisis-word turns of FailedESConv and HOPE and most distinct counsel-chat
# questions; b adds the narrower RISK_WORDS and more topics. Stage c was added after a and b
# had been labelled (19 crisis turns in 199) and before the detector was run on any of them:
# every counsel-chat question left that matches CRISIS_WORDS, and what is left of the crisis
# topics.
THIRD_STAGES = (
    HoldoutStage(
        seed=16,
        random={
            "counsel_chat": 15,
            "mi_counselchat": 10,
            "esconv_multiesc": 10,
            "esconv_failed": 8,
            "empathetic_intents": 10,
            "hope_sample": 5,
        },
        words=CRISIS_WORDS,
        targeted={
            "counsel_chat": 40,
            "mi_counselchat": 25,
            "esconv_multiesc": 20,
            "esconv_failed": 10,
            "empathetic_intents": 10,
            "hope_sample": 5,
        },
        topics={
            "self-harm": 10,
            "depression": 12,
            "domestic-violence": 10,
            "trauma": 10,
            "anger-management": 6,
            "substance-abuse": 4,
        },
        chat_turns=10,
    ),
    HoldoutStage(
        seed=17,
        random={"counsel_chat": 10, "mi_counselchat": 8, "esconv_multiesc": 10, "empathetic_intents": 8},
        words=RISK_WORDS,
        targeted={"counsel_chat": 30, "mi_counselchat": 20, "esconv_multiesc": 15, "empathetic_intents": 10},
        topics={
            "family-conflict": 6,
            "relationship-dissolution": 5,
            "grief-and-loss": 5,
            "self-esteem": 5,
            "eating-disorders": 4,
            "marriage": 4,
        },
        chat_turns=8,
    ),
    HoldoutStage(
        seed=18,
        random={},
        words=CRISIS_WORDS,
        targeted={"counsel_chat": 100},
        topics={
            "depression": 10,
            "trauma": 6,
            "domestic-violence": 6,
            "self-harm": 6,
            "substance-abuse": 4,
            "anger-management": 4,
        },
        chat_turns=0,
    ),
)
# Each frozen set (its crisis_eval.FILES key), its stages, and the labelled sets its draw
# excludes: every set labelled before it.
FROZEN_DRAWS = {
    "--holdout": ("second_frozen", HOLDOUT_STAGES, ("dev", "first_frozen")),
    "--third": ("test", THIRD_STAGES, ("dev", "first_frozen", "second_frozen")),
}


def draw_holdout(table: pd.DataFrame, labelled: set[tuple[str, int]], stage: HoldoutStage) -> pd.DataFrame:
    """Candidates of one stage of a frozen set, none already labelled, no question twice
    (counsel-chat and mi-counselchat share questions)."""
    seekers = role_turns(table, "seeker")
    keys = list(zip(seekers["conversation_id"], seekers["turn_index"], strict=True))
    seen = [key in labelled for key in keys]
    seen_bodies = set(_body(seekers["text"][seen]))
    seekers = seekers[~seekers["text"].isin(set(seekers["text"][seen]))]
    random = _stratified(seekers, stage.random, stage.seed).assign(case="random")
    drawn = labelled | set(zip(random["conversation_id"], random["turn_index"], strict=True))
    targeted = draw_more(seekers, stage.words, stage.targeted, drawn, stage.seed)
    drawn |= set(zip(targeted["conversation_id"], targeted["turn_index"], strict=True))
    meta = draw_by_metadata(table, drawn, stage.seed, stage.topics, stage.chat_turns)
    candidates = pd.concat([random, targeted, meta]).sort_values(["conversation_id", "turn_index"])
    body = _body(candidates["text"])
    return candidates[~body.isin(seen_bodies) & ~body.duplicated()]


def _body(texts: pd.Series) -> pd.Series:
    """A question's body without its title: counsel-chat prefixes the title that
    mi-counselchat's copy of the same question lacks."""
    return texts.str.split("\n\n", n=1).str[-1].str.strip()


def main(table_path: str, out_dir: str) -> None:
    table = pd.read_parquet(table_path, columns=["conversation_id", "source", "turns"])
    dev = crisis_eval.read_labels(Path("data/labels/crisis_turns.csv"))
    dev_keys = {(c, int(i)) for c, i in zip(dev["conversation_id"], dev["turn_index"], strict=True) if c}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seekers = draw(role_turns(table, "seeker"), CRISIS_WORDS, {s: 22 for s in RANDOM_PER_SOURCE}, dev_keys)
    seekers.to_csv(out / "crisis_candidates.csv", index=False)
    drawn = dev_keys | set(zip(seekers["conversation_id"], seekers["turn_index"], strict=True))
    more = draw_more(role_turns(table, "seeker"), RISK_WORDS, RISK_PER_SOURCE, drawn)
    more.sort_values(["conversation_id", "turn_index"]).to_csv(out / "crisis_candidates_2.csv", index=False)
    drawn |= set(zip(more["conversation_id"], more["turn_index"], strict=True))
    columns = ["conversation_id", "source", "turns", "topic", "problem_type"]
    table = pd.read_parquet(table_path, columns=columns)
    draw_by_metadata(table, drawn).to_csv(out / "crisis_candidates_3.csv", index=False)
    helpers = draw(role_turns(table, "helper"), REFERRAL_WORDS, {s: 12 for s in RANDOM_PER_SOURCE})
    helpers.to_csv(out / "referral_candidates.csv", index=False)


def main_holdout(table_path: str, out_dir: str, which: str = "--holdout") -> None:
    """Write the candidates of a frozen set (with text, for reading) to `out_dir`."""
    frozen, stages, excluded = FROZEN_DRAWS[which]
    columns = ["conversation_id", "source", "turns", "topic", "problem_type"]
    labelled = set()
    for name in excluded:
        frame = crisis_eval.read_labels(Path("data/labels") / crisis_eval.FILES[name])
        ids = zip(frame["conversation_id"], frame["turn_index"], strict=True)
        labelled |= {(c, int(i)) for c, i in ids if c}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.read_parquet(table_path, columns=columns)
    prefix = Path(crisis_eval.FILES[frozen]).stem
    for number, stage in enumerate(stages, 1):
        candidates = draw_holdout(table, labelled, stage)
        candidates.to_csv(out / f"{prefix}_candidates_{number}.csv", index=False)
        labelled |= set(zip(candidates["conversation_id"], candidates["turn_index"], strict=True))


if __name__ == "__main__":
    if sys.argv[1] in FROZEN_DRAWS:
        main_holdout(*sys.argv[2:4], sys.argv[1])
    else:
        main(*sys.argv[1:3])
