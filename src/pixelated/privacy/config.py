"""The `privacy` section of params.yaml, shared by the anonymize and privacy_bench stages.

Both stages detect PII with the same analyzer, so they read one `AnalyzerConfig`: the
benchmark measures exactly the detector that anonymize runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pixelated.core.config import Config

# placeholder: <PERSON_1>; fake: a seeded Faker value. See `pseudonym.Pseudonymizer`.
Surrogate = Literal["placeholder", "fake"]


class AnalyzerConfig(Config):
    """The Presidio analyzer: which spaCy model, entity types, threshold and allowed terms."""

    model: str = Field(description="pinned spaCy model package, loaded offline")
    score_threshold: float = Field(ge=0, le=1)
    nlp_batch_size: int = Field(64, ge=1)
    # distinct texts per worker task in anonymize: small enough that every worker stays busy
    # to the end; a multiple of nlp_batch_size, so that spaCy's batches are full
    texts_per_task: int = Field(256, ge=1)
    entities: tuple[str, ...] = Field(min_length=1)
    allow_list: tuple[str, ...] = ()


class BenchConfig(Config):
    """The PII benchmark: planted values per entity type, their seed, real carrier turns."""

    per_type: int = Field(ge=1)
    seed: int
    max_carriers: int = Field(ge=1)


class PrivacyConfig(Config):
    require_consent: bool
    surrogate: Surrogate
    analyzer: AnalyzerConfig
    bench: BenchConfig
