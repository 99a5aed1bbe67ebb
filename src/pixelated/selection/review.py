"""The clinician review set: which conversations a clinician reads, and the page and CSV they
read and fill in. A verdict written back to reviews/verdicts.csv overrides the gates
(`gates.read_verdicts`) on the next `dvc repro`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pixelated.core.hashing import seeded_key
from pixelated.core.tableio import read_batches
from pixelated.selection.gates import VERDICT_COLUMNS


def review_sample(scores: pd.DataFrame, fraction: float, seed: int, safety_min: float) -> pd.DataFrame:
    """Conversations for clinician review, with why: a `fraction` sample stratified by source x
    tier (at least one per stratum, seeded hash order), every crisis flag, every safety drop."""
    strata = scores["source"] + "|" + scores["quality_tier"]
    picked: dict[str, list[str]] = {}
    for _, part in scores.groupby(strata, sort=True):
        n = max(1, math.ceil(fraction * len(part)))
        chosen = sorted(part["conversation_id"], key=lambda c: seeded_key(seed, c))[:n]
        for cid in chosen:
            picked.setdefault(cid, []).append("sample")
    for cid in scores.loc[scores["crisis_kinds"] != "", "conversation_id"]:
        picked.setdefault(cid, []).append("crisis_flag")
    for cid in scores.loc[scores["safety"] < safety_min, "conversation_id"]:
        picked.setdefault(cid, []).append("low_safety")
    reasons = pd.Series(
        {cid: "+".join(dict.fromkeys(why)) for cid, why in picked.items()}, name="review_reason"
    )
    chosen = scores[scores["conversation_id"].isin(reasons.index)].copy()
    chosen["review_reason"] = chosen["conversation_id"].map(reasons)
    return chosen.sort_values("conversation_id").reset_index(drop=True)


def verdict_template(review: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """review.csv: one row per conversation to review, verdict columns blank unless already given."""
    out = review[
        ["conversation_id", "source", "review_reason", "quality", "quality_tier", "safety", "safety_reason",
         "crisis_kinds", "cssrs_level", "auto_decision"]
    ].copy()  # fmt: skip
    for column in VERDICT_COLUMNS[1:]:
        given = out["conversation_id"].map(verdicts[column]) if len(verdicts) else None
        out[column] = given.fillna("") if given is not None else ""
    out[["quality", "safety"]] = out[["quality", "safety"]].round(3)
    return out


def render_review_html(review: pd.DataFrame, metrics: tuple[str, ...], fraction: float) -> str:
    """The review page a clinician reads: each conversation, its scores, flags, blank verdict."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pixelated.selection", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
    )
    conversations = []
    for row in review.to_dict("records"):
        row["turns"] = list(row["turns"])
        row["crisis_turn_set"] = {int(i) for i in row["crisis_turns"].split(",") if i}
        conversations.append(row)
    return env.get_template("review.html.j2").render(
        conversations=conversations, metrics=metrics, fraction_percent=f"{100 * fraction:g}"
    )


def with_turns(review: pd.DataFrame, scored: Path, batch_size: int) -> pd.DataFrame:
    """The review rows with their turns, streamed from the scored table (which holds the text)."""
    wanted = set(review["conversation_id"])
    parts = [
        batch.loc[batch["conversation_id"].isin(wanted), ["conversation_id", "turns"]]
        for batch in read_batches(scored, batch_size)
    ]
    return review.merge(pd.concat(parts, ignore_index=True), on="conversation_id")


def write_review(
    directory: Path, review: pd.DataFrame, verdicts: pd.DataFrame, metrics: tuple[str, ...], fraction: float
) -> None:
    """data/review: review.csv (verdicts to fill in) and review.html (what to read)."""
    directory.mkdir(parents=True, exist_ok=True)
    verdict_template(review, verdicts).to_csv(directory / "review.csv", index=False)
    (directory / "review.html").write_text(render_review_html(review, metrics, fraction))
