"""validate: keep conversations that pass the canonical pandera schema; quarantine the rest."""

from __future__ import annotations

from functools import partial

from pydantic import Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.runner import TablePaths, filter_table
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.validation import canonical_schema, validate_batch


class ValidateStageConfig(Config):
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


def run(cfg: ValidateStageConfig, paths: TablePaths) -> None:
    max_chars = cfg.validate_.max_turn_chars
    filter_table(
        "validate",
        partial(validate_batch, max_turn_chars=max_chars),
        paths,
        schema=CONVERSATION_SCHEMA,
        check=canonical_schema(max_chars),
        config=cfg,
    )
