"""The `dedup` params section, typed: read by the dedup stage, by split (`near`) and the benchmark."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pixelated.core.config import Config

KeepPolicy = Literal["earliest", "longest", "highest_rated"]


class NearConfig(Config):
    """MinHash LSH: candidates at `candidate_threshold` (LSH is a soft threshold), verified by
    true Jaccard at `threshold`; bands x rows from datasketch's optimiser unless both are set.
    A document outside its bucket head's cluster is verified against the bucket's first
    `stray_checks` members of other clusters: the bound that keeps the work linear."""

    enabled: bool
    threshold: float = Field(gt=0, le=1)
    candidate_threshold: float = Field(gt=0, le=1)
    num_perm: int = Field(ge=1)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    shingle: Literal["word", "char"]
    ngram: int = Field(ge=1)
    seed: int
    stray_checks: int = Field(ge=1)


class SemanticConfig(Config):
    """MiniLM cosine on both sides of a conversation; texts are cut to `max_chars`. Up to
    `exact_max` representatives every pair is compared; above, each joins its `probes` nearest
    k-means lists of about `list_size` and is compared inside them (`semantic.listed_pairs`)."""

    enabled: bool
    threshold: float = Field(gt=0, le=1)
    max_chars: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    exact_max: int = Field(ge=0)
    list_size: int = Field(ge=1)
    probes: int = Field(ge=1)


class TemplatedConfig(Config):
    """Which repeated helper replies the report lists: in at least `min_conversations`."""

    min_conversations: int = Field(ge=1)
    min_words: int = Field(ge=1)
    top: int = Field(ge=0)


class DedupConfig(Config):
    keep: KeepPolicy
    rating_columns: tuple[str, ...]
    exact: bool
    near: NearConfig
    semantic: SemanticConfig
    group_by_seeker: bool
    templated: TemplatedConfig
    examples: int = Field(ge=0)
