"""filter_length: keep conversations of `filter_length.min_turns`..`max_turns` turns (spec: 2-50)."""

from __future__ import annotations

from functools import partial

import pandas as pd
from pydantic import Field, model_validator

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.validation import canonical_schema


class LengthConfig(Config):
    min_turns: int = Field(ge=1)
    max_turns: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_turns > self.max_turns:
            raise ValueError(f"min_turns {self.min_turns} is above max_turns {self.max_turns}")
        return self


class FilterLengthConfig(Config):
    filter_length: LengthConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


def run(cfg: FilterLengthConfig, paths: TablePaths) -> None:
    bounds = cfg.filter_length
    filter_table(
        "filter_length",
        partial(length_filter, min_turns=bounds.min_turns, max_turns=bounds.max_turns),
        paths,
        schema=CONVERSATION_SCHEMA,
        check=canonical_schema(cfg.validate_.max_turn_chars),
        config=cfg,
    )


def length_filter(
    batch: pd.DataFrame, min_turns: int, max_turns: int
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Keep conversations with min_turns..max_turns turns (inclusive)."""
    too_few = batch["n_turns"] < min_turns
    too_many = batch["n_turns"] > max_turns
    rejections = [
        row_rejection(row, "too_few_turns", f"{row['n_turns']} turns, minimum {min_turns}")
        for _, row in batch[too_few].iterrows()
    ] + [
        row_rejection(row, "too_many_turns", f"{row['n_turns']} turns, maximum {max_turns}")
        for _, row in batch[too_many].iterrows()
    ]
    return batch[~(too_few | too_many)].reset_index(drop=True), rejections
