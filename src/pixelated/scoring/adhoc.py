"""Score conversations outside the pipeline (`pixelated score FILE`) with the score stage's own
functions: anonymize first (as the pipeline does before scoring), measure, embed, fit the
strategy model on labelled turns, then `score_batch`. Nothing returned holds text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pixelated.core.embed import EmbeddingCache
from pixelated.core.ledger import Rejection
from pixelated.core.schema import SCORE_FIELDS
from pixelated.core.tableio import read_batches
from pixelated.privacy.anonymize import anonymize_batch
from pixelated.privacy.config import PrivacyConfig
from pixelated.privacy.engine import fingerprint
from pixelated.scoring.metrics import score_batch
from pixelated.scoring.score import ScoreConfig, measure, prepare
from pixelated.scoring.turns import MTurn

# what a printed line holds: where the conversation came from, and its scores
ID_FIELDS = ("conversation_id", "source", "source_record_id", "source_line")
SCORE_COLUMNS = tuple(name for name, _ in SCORE_FIELDS)


def labelled_turns(table: Path, batch_size: int) -> dict[str, list[MTurn]]:
    """Measured turns of the conversations in `table` that carry a strategy label: what the
    strategy model is fitted on (the score stage fits it on the same table)."""
    mturns = measure(read_batches(table, batch_size)).mturns
    return {cid: turns for cid, turns in mturns.items() if any(t.strategy for t in turns)}


def score_frame(
    frame: pd.DataFrame,
    score_cfg: ScoreConfig,
    privacy: PrivacyConfig,
    train: Path,
    cache: Path | None = None,
) -> tuple[pd.DataFrame, list[Rejection]]:
    """(one row of ids and scores per conversation, rows anonymize refused). `train` is a
    canonical table with strategy labels; `cache`, a turn-embedding cache read but not written."""
    anonymized = anonymize_batch((frame, {}), privacy, fingerprint(privacy.analyzer))
    kept = anonymized.kept.reset_index(drop=True)
    if kept.empty:
        return pd.DataFrame(columns=[*ID_FIELDS, *SCORE_COLUMNS]), anonymized.rejections
    mturns = {**labelled_turns(train, score_cfg.executor.batch_size), **measure([kept]).mturns}
    embeddings = EmbeddingCache(None, read_only=[cache] if cache and cache.exists() else [])
    model = prepare(mturns, embeddings)
    scored = score_batch(model.arrays(kept), score_cfg.quality.weights)
    return scored[[*ID_FIELDS, *SCORE_COLUMNS]], anonymized.rejections
