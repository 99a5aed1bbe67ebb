"""The sections the report reads: its own, and what it states about sources and the build."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from pixelated.core.config import Config


class ReportConfig(Config):
    words_bin: int = Field(ge=1, description="bin width of the words-per-turn histogram")


class SourceTerms(Config):
    """What a release must say about a source: its licence and consent. How a source is read
    (format, mapping) is ingest's business, so those keys are ignored here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    license: str
    commercial_use: bool
    consent: bool
    consent_basis: str


class IngestScope(Config):
    """The ingest setting the card reports (a sample build); the section's other keys are typed by
    ingest and carried through unchecked, to be logged with the run."""

    model_config = ConfigDict(frozen=True, extra="allow")

    max_per_source: int | None = Field(ge=1)
