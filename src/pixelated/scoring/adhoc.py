"""Score conversations outside the pipeline (`pixelated score FILE`) as the score stage would:
anonymize first (as the pipeline does before scoring), then `score_with` the trained scorers
the stage reads. Nothing returned holds text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pixelated.core.embed import EmbeddingCache
from pixelated.core.ledger import Rejection
from pixelated.core.schema import SCORE_FIELDS
from pixelated.privacy.anonymize import anonymize_batch
from pixelated.privacy.config import PrivacyConfig
from pixelated.privacy.engine import fingerprint
from pixelated.scoring.score import ScoreConfig, score_with
from pixelated.scoring.scorers import Scorers

# what a printed line holds: where the conversation came from, and its scores
ID_FIELDS = ("conversation_id", "source", "source_record_id", "source_line")
SCORE_COLUMNS = tuple(name for name, _ in SCORE_FIELDS)


def score_frame(
    frame: pd.DataFrame,
    score_cfg: ScoreConfig,
    privacy: PrivacyConfig,
    scorers: Path,
    cache: Path | None = None,
) -> tuple[pd.DataFrame, list[Rejection]]:
    """(one row of ids and scores per conversation, rows anonymize refused). `scorers` is the
    trained scorer folder the score stage reads; `cache`, a turn-embedding cache read, never written."""
    anonymized = anonymize_batch((frame, {}), privacy, fingerprint(privacy.analyzer))
    kept = anonymized.kept.reset_index(drop=True)
    if kept.empty:
        return pd.DataFrame(columns=[*ID_FIELDS, *SCORE_COLUMNS]), anonymized.rejections
    embeddings = EmbeddingCache(
        None, read_only=[cache] if cache and cache.exists() else [], backend=score_cfg.embed.backend
    )
    scored = score_with(kept, Scorers.load(scorers), embeddings, score_cfg.quality.weights)
    return scored[[*ID_FIELDS, *SCORE_COLUMNS]], anonymized.rejections
