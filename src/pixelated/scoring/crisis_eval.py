"""How well the crisis detector, the referral check and the safety gate do on hand-labelled
sets, for reports/quality.json (issue 13).

- crisis detector: precision and recall on the FROZEN test set (data/labels/crisis_frozen_3.csv,
  never used for tuning) and, labelled as such, on the development sets: crisis_turns.csv and
  the two earlier frozen sets, each spent once its misses had been read (crisis_test.csv, then
  crisis_holdout.csv);
- referral check: accuracy on data/labels/referral_replies.csv;
- safety gate: share of a blind labelled sample of its drops a reviewer agrees with (the
  earlier gate's reviewed drops apart, as a development set).

Every rate comes with a 95% Wilson interval: the sets are small, so the interval is the point.
Real labelled turns carry no text; they are found by (conversation_id, turn_index) among the
run's conversations, and any not in the run are counted, not guessed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixelated.core.tableio import read_batches
from pixelated.core.text import normalize_for_measure
from pixelated.scoring import crisis, referral

FILES = {
    "test": "crisis_frozen_3.csv",
    "dev": "crisis_turns.csv",
    "first_frozen": "crisis_test.csv",
    "second_frozen": "crisis_holdout.csv",
    "referral": "referral_replies.csv",
    "drops": "safety_drops_review.csv",
}
Texts = Mapping[tuple[str, int], str]


def wilson(successes: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of a proportion (None for n = 0)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _rate(successes: int, n: int) -> dict:
    return {"value": round(successes / n, 4) if n else None, "n": n, "ci95": wilson(successes, n)}


def read_labels(path: Path) -> pd.DataFrame:
    """One labelled set: a CSV after leading '#' comment lines (how it was drawn and labelled)."""
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return pd.read_csv(
        io.StringIO("".join(lines)), dtype={"conversation_id": "string"}, keep_default_na=False
    )


@dataclass(frozen=True)
class LabelSets:
    """The labelled sets, read once: frozen test, development (and the spent earlier frozen
    sets), referral, safety-drop review."""

    test: pd.DataFrame
    dev: pd.DataFrame
    first_frozen: pd.DataFrame
    second_frozen: pd.DataFrame
    referral: pd.DataFrame
    drops: pd.DataFrame

    def wanted(self) -> set[tuple[str, int]]:
        """The (conversation, turn) keys whose text the evaluation needs from the run."""
        keys = set()
        for frame in (self.test, self.dev, self.first_frozen, self.second_frozen, self.referral):
            ids = zip(frame["conversation_id"], frame["turn_index"], strict=True)
            keys |= {(c, int(i)) for c, i in ids if c}
        return keys


def load(folder: Path) -> LabelSets:
    """Read data/labels/; a set that is missing is empty (its block then says n = 0)."""
    frames = {}
    for name, file in FILES.items():
        path = Path(folder) / file
        frames[name] = read_labels(path) if path.exists() else pd.DataFrame()
    return LabelSets(**frames)


def labelled_texts(batches: Iterable[pd.DataFrame], wanted: Collection[tuple[str, int]]) -> dict:
    """The text of each wanted (conversation, turn) found in a conversation table's batches."""
    found = {}
    for batch in batches:
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            found.update({(cid, i): t["text"] for i, t in enumerate(turns) if (cid, i) in wanted})
    return found


def label_texts(labels: pd.DataFrame, texts: Texts) -> tuple[list[str | None], int]:
    """Each label's normalised text (written text, else the run's turn) and how many are missing."""
    found = []
    for row in labels.itertuples(index=False):
        text = getattr(row, "text", "") or None
        if text is None and row.conversation_id:
            text = texts.get((row.conversation_id, int(row.turn_index)))
        found.append(None if text is None else normalize_for_measure(text))
    return found, sum(t is None for t in found)


def is_crisis(labels: pd.DataFrame) -> pd.Series:
    """Crisis yes/no from either format: `label` (kind or none) or `crisis` (0/1)."""
    if "label" in labels:
        return labels["label"] != "none"
    return labels["crisis"].astype(int) == 1


def _rates_by(groups: np.ndarray, hits: np.ndarray) -> dict:
    """The share of `hits` within each group (sorted), with its interval."""
    return {g: _rate(int(hits[groups == g].sum()), int((groups == g).sum())) for g in sorted(set(groups))}


def detector(labels: pd.DataFrame, texts: Texts) -> dict:
    """Precision, recall and accuracy of crisis.crisis_kinds on one labelled set, with accuracy
    by how turns were drawn (`case` or `draw`) and, where kinds are labelled, recall by kind."""
    if labels.empty:
        return {"turns": 0}
    found, missing = label_texts(labels, texts)
    keep = np.array([t is not None for t in found])
    truth = is_crisis(labels).to_numpy(dtype=bool)[keep]
    predicted = np.array([bool(crisis.crisis_kinds(t)) for t in found if t is not None], dtype=bool)
    tp, fp, fn = (
        int((truth & predicted).sum()),
        int((predicted & ~truth).sum()),
        int((truth & ~predicted).sum()),
    )
    result = {
        "turns": len(predicted),
        "turns_not_in_this_run": missing,
        "positives": int(truth.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _rate(tp, tp + fp),
        "recall": _rate(tp, tp + fn),
        "accuracy": _rate(len(predicted) - fp - fn, len(predicted)),
    }
    for column in ("case", "draw"):
        if column in labels:
            result[f"accuracy_by_{column}"] = _rates_by(labels[column].to_numpy()[keep], truth == predicted)
    if "label" in labels:
        kinds = labels["label"].to_numpy()[keep]
        result["recall_by_kind"] = _rates_by(kinds[kinds != "none"], predicted[kinds != "none"])
    return result


def referral_check(labels: pd.DataFrame, texts: Texts) -> dict:
    """Accuracy (with precision and recall of `refers`) of referral.refers on labelled replies."""
    if labels.empty:
        return {"replies": 0}
    found, missing = label_texts(labels, texts)
    rows = [
        (label == "refers", referral.refers(text), origin)
        for label, text, origin in zip(labels["label"], found, labels["origin"], strict=True)
        if text is not None
    ]
    frame = pd.DataFrame(rows, columns=["truth", "predicted", "origin"])
    correct = frame["truth"] == frame["predicted"]
    tp = int((frame["truth"] & frame["predicted"]).sum())
    return {
        "replies": len(frame),
        "replies_not_in_this_run": missing,
        "refers": int(frame["truth"].sum()),
        "accuracy": _rate(int(correct.sum()), len(frame)),
        "accuracy_by_origin": _rates_by(frame["origin"].to_numpy(), correct.to_numpy()),
        "precision": _rate(tp, int(frame["predicted"].sum())),
        "recall": _rate(tp, int(frame["truth"].sum())),
    }


BLIND_GATE = "v2"  # the gate whose drops were sampled and labelled blind (safety_drops_review.csv)


def _review(rows: pd.DataFrame) -> dict:
    """Share of reviewed drops a reviewer agrees with, and share whose stated reason is right."""
    agree = rows["reviewer_agrees"].astype(str).str.lower() == "yes"
    reason = rows["reason_right"].astype(str).str.lower() == "yes"
    n = len(rows)
    return {"agreement": _rate(int(agree.sum()), n), "reason_right": _rate(int(reason.sum()), n)}


def drops_review(labels: pd.DataFrame) -> dict:
    """The safety-gate drop review: the headline is the blind sample of this gate's drops
    (gate=v2); the earlier gate's sample, read while this gate was written, is the development
    set, with the share of its drops only the gate before that made that it rightly keeps."""
    if labels.empty:
        return {"reviewed": 0}
    old = labels[labels["gate"] == "old_only"]
    kept_rightly = int((old["reviewer_agrees"].astype(str).str.lower() != "yes").sum())
    return {
        "reviewed": len(labels),
        "set": f"blind: random drops of the gate (gate={BLIND_GATE}), labelled before agreement was computed",
        **_review(labels[labels["gate"] == BLIND_GATE]),
        "dev": {
            "set": "the previous gate's drops (gate=new), read while this gate was written: development",
            **_review(labels[labels["gate"] == "new"]),
            "old_only_rightly_kept": _rate(kept_rightly, len(old)),
        },
    }


def report(sets: LabelSets, texts: Texts) -> dict:
    """reports/quality.json's measured blocks: `crisis` (detector on the frozen set, dev-set
    figures labelled as such, safety-drop review) and `referral`."""
    return {
        "crisis": {
            "detector": {
                "set": "frozen test (data/labels/crisis_frozen_3.csv)",
                **detector(sets.test, texts),
            },
            "detector_dev": {
                "set": "development, tuned on: optimistic (data/labels/crisis_turns.csv)",
                **detector(sets.dev, texts),
            },
            "detector_first_frozen": {
                "set": "the first frozen set, looked at three times, then tuned on: optimistic "
                "(data/labels/crisis_test.csv)",
                **detector(sets.first_frozen, texts),
            },
            "detector_second_frozen": {
                "set": "the second frozen set, blind once (P 0.846, R 0.647), its misses then read "
                "and tuned on (round 3): optimistic (data/labels/crisis_holdout.csv)",
                **detector(sets.second_frozen, texts),
            },
            "safety_drops_review": drops_review(sets.drops),
        },
        "referral": referral_check(sets.referral, texts),
    }


def evaluate(labels: Path, table: Path, batch_size: int) -> dict:
    """`report` on the sets in folder `labels`, their real turns' text read from `table`."""
    sets = load(labels)
    return report(sets, labelled_texts(read_batches(table, batch_size), sets.wanted()))
