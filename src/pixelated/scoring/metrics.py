"""Quality measurement (Data-Juicer style: measure here, decide in `select`).

Every conversation gets six sub-metrics in [0, 1], a safety score and crisis flags, each a
column of `data/interim/scored.parquet`. The methods and their sources are in docs/quality.md.
Every metric reads the measured turns (`turns.measurement_turns`).

Embeddings and strategy probabilities are computed once in the stage's main process
(`pixelated.scoring.score`); `score_batch` is a pure function of a batch plus those arrays,
so `pixelated.core.executor.map_batches` can ship it to worker processes or Ray.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.schema import SCORE_FIELDS, SCORE_METRICS, SCORED_SCHEMA
from pixelated.core.tableio import to_pandas
from pixelated.scoring.cues import cues, epitome_level
from pixelated.scoring.safety import safety, unreferred_crisis
from pixelated.scoring.turns import STRATEGIES, MTurn, measurement_turns

METRICS = SCORE_METRICS
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@functools.cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@functools.cache
def _english_words() -> frozenset[str]:
    """The 82,765-word English frequency dictionary that ships with symspellpy (SymSpell)."""
    path = importlib.resources.files("symspellpy").joinpath("frequency_dictionary_en_82_765.txt")
    return frozenset(line.split(" ", 1)[0] for line in path.read_text().splitlines())


@functools.cache
def _language_detector():
    """lingua over the languages seen in support-chat corpora; a small set loads in a second."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [
        Language.ENGLISH, Language.SPANISH, Language.FRENCH, Language.GERMAN, Language.PORTUGUESE,
        Language.ITALIAN, Language.DUTCH, Language.CHINESE, Language.HINDI, Language.INDONESIAN,
    ]  # fmt: skip
    return LanguageDetectorBuilder.from_languages(*languages).build(), Language.ENGLISH


@functools.cache
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def flesch_reading_ease(text: str) -> float:
    """Flesch (1948): 206.835 - 1.015 words/sentence - 84.6 syllables/word (pyphen syllables;
    textstat needs NLTK's cmudict download, which is not available offline)."""
    words = _WORD.findall(text)
    if not words:
        return 0.0
    sentences = max(1, len(re.findall(r"[.!?]+", text)))
    syllables = sum(len(_hyphenator().positions(w)) + 1 for w in words)
    return 206.835 - 1.015 * len(words) / sentences - 84.6 * syllables / len(words)


# --- the six sub-metrics; each takes the measured turns (and arrays) of one conversation ---


def therapeutic_accuracy(helper_probs: np.ndarray) -> float:
    """Helping skills from predicted ESConv strategies (rows: helper turns, cols: STRATEGIES).

    skill use (turns that are a named strategy, not "other"), MITI 4 reflection-to-question
    ratio (0 -> 0, 1:1 "fair" -> 0.7, 2:1 "good" -> 1), and affirmation/validation present.
    """
    if len(helper_probs) == 0:
        return 0.0
    p = dict(zip(STRATEGIES, helper_probs.T, strict=True))
    skill_use = float(np.mean(1 - p["other"]))
    reflections = float(np.sum(p["restatement"] + p["reflection"]))
    questions = float(np.sum(p["question"]))
    ratio = reflections / max(questions, 0.25)
    rq_score = float(np.interp(ratio, [0, 1, 2], [0, 0.7, 1]))
    affirmation = float(1 - np.prod(1 - np.clip(p["affirmation"] + p["self_disclosure"] / 2, 0, 1)))
    return 0.4 * skill_use + 0.3 * rq_score + 0.3 * affirmation


def coherence(mturns: list[MTurn], vectors: np.ndarray) -> float:
    """How well helper turns answer the seeker turn before them (MiniLM cosine), and how
    close they stay to the seeker's topic (cosine to the mean seeker turn): low = drift."""
    roles = [t.role for t in mturns]
    seeker = [i for i, r in enumerate(roles) if r == "seeker"]
    pairs = [(i, i - 1) for i, r in enumerate(roles) if r == "helper" and i > 0 and roles[i - 1] == "seeker"]
    if not pairs or not seeker:
        return 0.0
    relevance = np.mean([vectors[h] @ vectors[s] for h, s in pairs])
    centroid = vectors[seeker].mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    helpers = [i for i, r in enumerate(roles) if r == "helper"]
    on_topic = np.mean(vectors[helpers] @ centroid)
    # MiniLM cosine of an on-topic reply to its prompt is typically 0.3-0.6; 0.5 and up is full marks
    return float(0.6 * np.interp(relevance, [0, 0.5], [0, 1]) + 0.4 * np.interp(on_topic, [0, 0.5], [0, 1]))


def emotional_authenticity(helper_texts: list[str], helper_probs: np.ndarray) -> float:
    """EPITOME's three mechanisms (emotional reactions, interpretations, explorations), each
    0 / 0.5 / 1 per response from cue phrases, raised by the matching predicted strategy
    (reflection of feelings, restatement -> interpretation; question -> exploration). A
    conversation scores the mean of max and mean over helper turns, then over mechanisms."""
    if not helper_texts:
        return 0.0
    p = dict(zip(STRATEGIES, helper_probs.T, strict=True))
    patterns = cues()["epitome"]
    boosts = {
        "emotional_reactions": p["affirmation"],
        "interpretations": p["reflection"] + p["restatement"],
        "explorations": p["question"],
    }
    scores = []
    for mechanism, levels in patterns.items():
        per_turn = np.array([epitome_level(text, levels) for text in helper_texts])
        per_turn = np.maximum(per_turn, np.clip(boosts[mechanism], 0, 1))
        scores.append(0.5 * per_turn.max() + 0.5 * per_turn.mean())
    return float(np.mean(scores))


def compliance_violations(helper_texts: list[str]) -> list[str]:
    """Kinds of helper behaviour ruled out by counselling codes of conduct found in the turns."""
    joined = "\n".join(helper_texts)
    return [name for name, pattern in cues()["compliance"].items() if pattern.search(joined)]


def clinical_compliance(mturns: list[MTurn]) -> tuple[float, list[str]]:
    """1 minus 0.35 per kind of violation (diagnosing, dosing, promises, judgement, boundaries,
    and no referral after a seeker's crisis turn), floored at 0."""
    helper_texts = [t.text for t in mturns if t.role == "helper"]
    violations = compliance_violations(helper_texts)
    if any(unreferred_crisis(mturns)):
        violations.append("no_referral")
    return max(0.0, 1 - 0.35 * len(violations)), violations


def personality_consistency(helper_texts: list[str], helper_vectors: np.ndarray) -> float:
    """Stable stance across helper turns: sentiment (VADER compound) spread and how close each
    helper turn stays to the helper's mean turn (MiniLM). One helper turn: nothing to vary."""
    if len(helper_texts) < 2:
        return 1.0
    compound = np.array([_vader().polarity_scores(t)["compound"] for t in helper_texts])
    sentiment = 1 - min(1.0, float(np.std(compound)))
    centroid = helper_vectors.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    style = float(np.interp(np.mean(helper_vectors @ centroid), [0.3, 0.7], [0, 1]))
    return 0.5 * sentiment + 0.5 * style


def english_confidence(text: str) -> float:
    """lingua's confidence that `text` is English, rounded to 8 decimals: lingua sums n-gram
    log-probabilities in an order that changes from call to call, so its last bits (~1e-16)
    jitter and the same conversation could round to a different stored score (1e-6) in the
    stage and in the service. Rounded, every call gives the same value (unless it lies within
    that jitter of a rounding midpoint: fewer than one call in 1e7)."""
    detector, english = _language_detector()
    return round(detector.compute_language_confidence(text, english), 8)


def language_quality(helper_texts: list[str]) -> float:
    """Mean of: English (lingua confidence), spelling (share of words in the SymSpell English
    dictionary), no repetition (1 - duplicate word-trigram share, Gopher rules, Rae et al.
    2021), letters among non-space characters, readability (Flesch reading ease 0 -> 0,
    30 -> 0.5, 60+ -> 1) and substance (mean words per turn, 2 -> 0, 10+ -> 1)."""
    text = " ".join(helper_texts)
    words = _WORD.findall(text)
    if not words:
        return 0.0
    is_english = english_confidence(text)
    known = _english_words()
    spelling = np.mean([w in known or w.split("'")[0] in known for w in words])
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    repetition = 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
    visible = re.sub(r"\s", "", text)
    letters = sum(ch.isalpha() for ch in visible) / max(1, len(visible))
    readability = np.interp(flesch_reading_ease(text), [0, 30, 60], [0, 0.5, 1])
    substance = np.interp(len(words) / len(helper_texts), [2, 10], [0, 1])
    parts = [
        is_english,
        spelling,
        1 - repetition,
        np.interp(letters, [0.5, 0.8], [0, 1]),
        readability,
        substance,
    ]
    return float(np.mean(parts))


# --- the batch function ---


def score_conversation(mturns: list[MTurn], vectors: np.ndarray, probs: np.ndarray) -> dict:
    """Every sub-metric, safety and flags of one conversation. `vectors` has one row per
    measured turn; `probs` one row of strategy probabilities per helper turn."""
    helper_index = [i for i, t in enumerate(mturns) if t.role == "helper"]
    helper_texts = [mturns[i].text for i in helper_index]
    helper_vectors = vectors[helper_index] if helper_index else np.zeros((0, vectors.shape[1]))
    compliance, violations = clinical_compliance(mturns)
    row = {
        "therapeutic_accuracy": therapeutic_accuracy(probs),
        "coherence": coherence(mturns, vectors),
        "emotional_authenticity": emotional_authenticity(helper_texts, probs),
        "clinical_compliance": compliance,
        "personality_consistency": personality_consistency(helper_texts, helper_vectors),
        "language_quality": language_quality(helper_texts),
        "compliance_violations": ",".join(violations),
    }
    row.update(safety(mturns))
    return row


def weighted_quality(frame: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """The overall score: the weighted mean of the six sub-metrics (`QualityConfig.weights`)."""
    total = sum(weights[m] for m in METRICS)
    return sum(frame[m] * (weights[m] / total) for m in METRICS)


def sinking_metric(row: pd.Series, weights: dict[str, float]) -> str:
    """The sub-metric that cost the most weighted points (for drop reasons and error analysis)."""
    return max(METRICS, key=lambda m: weights[m] * (1 - row[m]))


def score_batch(
    item: tuple[pd.DataFrame, list[np.ndarray], list[np.ndarray]], weights: dict[str, float]
) -> pd.DataFrame:
    """Scores for one batch: (conversations, per-conversation turn vectors, per-conversation
    helper strategy probabilities) -> the batch with score columns added."""
    batch, vectors, probs = item
    rows = [
        score_conversation(measurement_turns(turns), v, p)
        for turns, v, p in zip(batch["turns"], vectors, probs, strict=True)
    ]
    scores = pd.DataFrame(rows, index=batch.index)
    for metric in METRICS:
        scores[metric] = scores[metric].clip(0, 1).round(6)
    scores["quality"] = weighted_quality(scores, weights).round(6)
    scores["safety"] = scores["safety"].round(6)
    return pd.concat([batch, scores[[name for name, _ in SCORE_FIELDS]]], axis=1)


def read_scores(path: Path) -> pd.DataFrame:
    """Every column of a scored table but the turns: what reports and decisions read."""
    columns = [c for c in SCORED_SCHEMA.names if c != "turns"]
    return to_pandas(pq.read_table(path, columns=columns))
