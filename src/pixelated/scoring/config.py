"""The `quality` and `safety` sections of params.yaml: measured in `score`, applied in `select`.

Keys are kept exactly as params.yaml names them, so `dvc exp run -S quality.min_score=0.8`
and the like keep working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pixelated.core.config import Config
from pixelated.core.schema import SCORE_METRICS, TIERS

Tier = Literal[TIERS[:-1]]  # "below" is what misses them all, not a tier to choose


def _exactly(value: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """A mapping with one entry per name: none missing, none unknown (a typo is an error)."""
    missing, unknown = sorted(set(names) - set(value)), sorted(set(value) - set(names))
    if missing or unknown:
        problems = [f"{what} {keys}" for what, keys in (("missing", missing), ("unknown", unknown)) if keys]
        raise ValueError(f"{', '.join(problems)}; expected {list(names)}")
    return value


class QualityConfig(Config):
    """Sub-metric weights of the overall score, the tier thresholds and the selection gates."""

    weights: dict[str, float]
    tiers: dict[str, float]
    tier: Tier
    min_score: float = Field(ge=0, le=1)
    min_clinical_accuracy: float = Field(ge=0, le=1)
    accepted_source: str
    rejected_source: str
    error_analysis_rows: int = Field(ge=0)

    @field_validator("weights")
    @classmethod
    def _every_metric(cls, value):
        if any(weight < 0 for weight in value.values()) or not sum(value.values()) > 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return _exactly(value, SCORE_METRICS)

    @field_validator("tiers")
    @classmethod
    def _every_tier(cls, value):
        return _exactly(value, TIERS[:-1])


class SafetyConfig(Config):
    """Conversations below `min_score` never reach training data; they go to review."""

    min_score: float = Field(ge=0, le=1)
