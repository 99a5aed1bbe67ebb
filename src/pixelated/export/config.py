"""The `export` section: which formats to write, and the settings of those that have any."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pixelated.core.config import Config

FORMATS = ("jsonl", "parquet", "csv", "hf", "openai", "tfrecord")


class OpenAIConfig(Config):
    system_prompt: str = Field(min_length=1, description="first message of every example (the disclaimer)")
    max_tokens: int = Field(ge=1, description="the fine-tuned model's context limit")


class ExportConfig(Config):
    formats: list[str] = Field(min_length=1)
    openai: OpenAIConfig | None = None

    @field_validator("formats")
    @classmethod
    def _known(cls, formats: list[str]) -> list[str]:
        if unknown := set(formats) - set(FORMATS):
            raise ValueError(f"unknown {sorted(unknown)}; known: {sorted(FORMATS)}")
        return formats

    @model_validator(mode="after")
    def _openai_settings(self):
        if "openai" in self.formats and self.openai is None:
            raise ValueError("the openai format needs export.openai (system_prompt, max_tokens)")
        return self
