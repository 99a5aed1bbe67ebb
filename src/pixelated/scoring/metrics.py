"""Quality measurement (Data-Juicer style: measure here, decide in `select`).

Every conversation gets six sub-metrics in [0, 1], a safety score and crisis flags, each a
column of `data/interim/scored.parquet`. The methods and their sources are in docs/quality.md.
Every metric reads the measured turns (`turns.measurement_turns`).

Embeddings, behaviour codes and empathy levels are computed once in the stage's main process
(`pixelated.scoring.score`, as `Evidence`); `score_batch` is a pure function of a batch plus those,
so `pixelated.core.executor.map_batches` can ship it to worker processes or Ray.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixelated.core.schema import SCORE_FIELDS, SCORE_METRICS
from pixelated.scoring import miti
from pixelated.scoring.calibration import calibrate
from pixelated.scoring.cues import asserted, cues
from pixelated.scoring.safety import safety, unreferred_crisis
from pixelated.scoring.turns import MTurn, measurement_turns

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


# --- the six sub-metrics; each takes the measured turns (and evidence) of one conversation ---


@dataclass(frozen=True)
class Evidence:
    """What the models say about one conversation, computed once in the stage's main process:
    a MiniLM vector per measured turn, MITI code probabilities per helper sentence (units x
    behaviour.CODES) and expected EPITOME levels per helper turn (helper turns x MECHANISMS)."""

    vectors: np.ndarray
    codes: np.ndarray
    empathy: np.ndarray


def therapeutic_accuracy(codes: np.ndarray) -> float:
    """MITI 4.2.1 summary scores of the helper's coded sentences, each anchored on its
    published fair/good thresholds and weighted by the evidence the conversation holds
    (`miti.therapeutic_accuracy`). No helper sentence at all: nothing therapeutic, 0."""
    value = miti.therapeutic_accuracy(codes)
    return 0.0 if value is None else value


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
    return calibrate("coherence", float(0.6 * relevance + 0.4 * on_topic))


def emotional_authenticity(empathy: np.ndarray, mturns: list[MTurn]) -> float:
    """Expressed empathy, and empathy as the seeker received it where the conversation shows it.

    Expressed: the EPITOME heads (empathy.py) per helper turn; per mechanism the mean of the
    best and the mean turn (one empathic answer counts whole; greetings do not dilute it);
    anchored (calibration.ANCHORS). Received: `seeker_uptake`, weighted by its evidence, so a
    written answer with no seeker reply is judged on expressed empathy alone."""
    if len(empathy) == 0:
        return 0.0
    per_mechanism = 0.5 * empathy.max(axis=0) + 0.5 * empathy.mean(axis=0)
    expressed = calibrate("emotional_authenticity", float(per_mechanism.mean()))
    received, evidence = seeker_uptake(mturns)
    return (expressed + evidence * received) / (1 + evidence)


def seeker_uptake(mturns: list[MTurn]) -> tuple[float, float]:
    """(received, evidence): the seeker's affect once helped, the text's trace of empathy as the
    client perceives it (Barrett-Lennard 1962; Elliott et al. 2018: client-rated empathy
    predicts outcome best). VADER compound of the last third of the seeker's turns after the
    helper's first turn, -0.5 -> 0, 0 -> 0.5, 0.5 -> 1. Evidence: 0 with no such turn, 1 from
    two."""
    first_helper = next((i for i, t in enumerate(mturns) if t.role == "helper"), len(mturns))
    after = [t.text for t in mturns[first_helper + 1 :] if t.role == "seeker"]
    if not after:
        return 0.5, 0.0
    closing = after[-max(1, len(after) // 3) :]
    affect = float(np.mean([_vader().polarity_scores(text)["compound"] for text in closing]))
    return float(np.interp(affect, [-0.5, 0.0, 0.5], [0.0, 0.5, 1.0])), min(1.0, len(after) / 2)


def compliance_violations(helper_texts: list[str]) -> list[str]:
    """Kinds of helper behaviour ruled out by counselling codes of conduct, asserted in the turns."""
    joined = "\n".join(helper_texts)
    return [name for name, pattern in cues()["compliance"].items() if asserted(pattern, joined)]


def clinical_compliance(mturns: list[MTurn]) -> tuple[float, list[str]]:
    """1 minus 0.35 per kind of violation (diagnosing, dosing, promises, judgement, boundaries,
    and no referral after a seeker's crisis turn), floored at 0."""
    helper_texts = [t.text for t in mturns if t.role == "helper"]
    violations = compliance_violations(helper_texts)
    if any(unreferred_crisis(mturns)):
        violations.append("no_referral")
    return max(0.0, 1 - 0.35 * len(violations)), violations


_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself)\b", re.IGNORECASE)


def personality_consistency(helper_texts: list[str]) -> float:
    """The helper keeps the helper's role: the seeker, not the helper, stays the subject
    (Rogers' client-centred stance; Hill & Knox 2002 on keeping self-disclosure brief). Share
    of second-person among the helper's personal pronouns, smoothed by one of each (no pronoun
    at all: 0.5, nothing shown either way), anchored (calibration.ANCHORS)."""
    text = " ".join(helper_texts)
    second, first = len(_SECOND_PERSON.findall(text)), len(_FIRST_PERSON.findall(text))
    return calibrate("personality_consistency", (second + 1) / (second + first + 2))


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


def score_conversation(mturns: list[MTurn], evidence: Evidence) -> dict:
    """Every sub-metric, safety and flags of one conversation."""
    helper_texts = [t.text for t in mturns if t.role == "helper"]
    vectors = evidence.vectors
    compliance, violations = clinical_compliance(mturns)
    row = {
        "therapeutic_accuracy": therapeutic_accuracy(evidence.codes),
        "coherence": coherence(mturns, vectors),
        "emotional_authenticity": emotional_authenticity(evidence.empathy, mturns),
        "clinical_compliance": compliance,
        "personality_consistency": personality_consistency(helper_texts),
        "language_quality": language_quality(helper_texts),
        "compliance_violations": ",".join(violations),
    }
    row.update(safety(mturns))
    return row


def weighted_quality(frame: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """The overall score: the weighted mean of the six sub-metrics (`QualityConfig.weights`)."""
    total = sum(weights[m] for m in METRICS)
    return sum(frame[m] * (weights[m] / total) for m in METRICS)


def sinking_metrics(frame: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Per row, the sub-metric that cost the most weighted points, the first of METRICS on a
    tie (for drop reasons and error analysis): whole columns at once, not a row at a time."""
    cost = np.column_stack([weights[m] * (1 - frame[m].to_numpy(float)) for m in METRICS])
    return np.asarray(METRICS, dtype=object)[cost.argmax(axis=1)]


def score_batch(item: tuple[pd.DataFrame, list[Evidence]], weights: dict[str, float]) -> pd.DataFrame:
    """Scores for one batch: (conversations, each conversation's Evidence) -> the batch with
    score columns added."""
    batch, evidence = item
    rows = [
        score_conversation(measurement_turns(turns), e)
        for turns, e in zip(batch["turns"], evidence, strict=True)
    ]
    scores = pd.DataFrame(rows, index=batch.index)
    for metric in METRICS:
        scores[metric] = scores[metric].clip(0, 1).round(6)
    scores["quality"] = weighted_quality(scores, weights).round(6)
    scores["safety"] = scores["safety"].round(6)
    return pd.concat([batch, scores[[name for name, _ in SCORE_FIELDS]]], axis=1)


# What select's decisions read of every scored conversation: ids, scores and crisis flags,
# never text or provenance (about a quarter of a whole row's bytes, without the turns)
DECISION_COLUMNS = ("conversation_id", "source", *METRICS, "quality", "safety", "crisis_kinds")
