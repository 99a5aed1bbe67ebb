"""The `train` and `evaluate` sections: `evaluate` reads both (pairs and encoders as trained)."""

from __future__ import annotations

from pydantic import Field

from pixelated.core.config import Config


class RegistryConfig(Config):
    """Where the trained selector is registered in MLflow, and the alias that points to it."""

    name: str
    alias: str


class TrainConfig(Config):
    """The response selector's pairs and fine-tuning recipe."""

    seed: int
    device: str = Field(description="auto (cuda when present), cpu or cuda")
    context_turns: int = Field(ge=1)
    min_response_words: int = Field(ge=0)
    pairs_per_conversation: int = Field(ge=1)
    max_pairs: int | None = Field(ge=1)
    max_seq_length: int = Field(ge=1)
    batch_size: int = Field(ge=2, description="in-batch negatives need two pairs")
    epochs: int = Field(ge=0)
    learning_rate: float = Field(gt=0)
    warmup_ratio: float = Field(ge=0, le=1)
    weight_decay: float = Field(ge=0)
    scale: float = Field(gt=0)
    patience: int = Field(ge=1)
    val_candidates: int = Field(ge=2)
    val_max_queries: int | None = Field(ge=1)
    eval_batch_size: int = Field(ge=1)
    registry: RegistryConfig


class TfidfConfig(Config):
    ngram_max: int = Field(ge=1)
    max_fit_pairs: int | None = Field(ge=1, description="a seeded sample of train pairs to fit on")
    min_df: int = Field(ge=1)
    sublinear_tf: bool


class CrossValidationConfig(Config):
    """A cheaper recipe than `train`, per fold: it measures variance across data."""

    enabled: bool
    max_pairs: int = Field(ge=2)
    epochs: int = Field(ge=1)
    max_queries: int | None = Field(ge=1)


class AblationConfig(Config):
    """The curation ablation: every training pool is fitted once per seed."""

    seeds: list[int] = Field(min_length=1)
    bootstrap_rounds: int = Field(ge=100)


class EvaluateConfig(Config):
    seed: int
    candidates: int = Field(ge=2)
    max_queries: int | None = Field(ge=1)
    ks: list[int] = Field(min_length=1)
    encode_batch_size: int = Field(ge=1)
    fairness_min_queries: int = Field(ge=1)
    tfidf: TfidfConfig
    cv: CrossValidationConfig
    ablation: AblationConfig
