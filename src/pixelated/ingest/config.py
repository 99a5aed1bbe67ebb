"""Typed config of the ingest phase: what a source is, how it is read, where it comes from.

A source's keys (conf/sources/*.yaml) are checked when the config is built, so a typo or a
missing column name is a `ConfigError` naming `sources.<name>.<key>`, not a reader failure
halfway through a file. Readers get the source's `SourceConfig` and the run's `ReadOptions`
as separate arguments: a source key can never override an ingest setting.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from pixelated.core.config import Config, ConfigError, ExecutorConfig


def contained(value: str) -> str:
    """A relative path (or glob) that stays inside the folder it is joined to: no absolute
    path, drive, `..` step or backslash, so config can never name a file outside the mirror
    or outside data/raw/<source>/."""
    parts = PurePosixPath(value).parts
    if (
        not value.strip()
        or value.startswith(("/", "~"))
        or "\\" in value
        or PureWindowsPath(value).drive
        or ".." in parts
    ):
        raise ValueError(
            f"{value!r} must be a relative path inside the source's folder (no '..', '/', '~', '\\')"
        )
    return value


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def source_name(value: str) -> str:
    """A source name is a folder name under data/raw: letters, digits, `_`, `.`, `-`."""
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"source name {value!r} must match {_NAME.pattern} (it names a folder)")
    return value


RelPath = Annotated[str, AfterValidator(contained)]
SourceName = Annotated[str, AfterValidator(source_name)]


def resolved_inside(path: Path, root: Path, key: str) -> Path:
    """`path` with symlinks resolved, checked to lie inside `root`; a ConfigError naming
    `key` otherwise (a symlink in the mirror or in data/raw that points elsewhere)."""
    real, real_root = path.resolve(), root.resolve()
    if real != real_root and real_root not in real.parents:
        raise ConfigError(f"{key}: {path} resolves outside {root}")
    return real


class RecordMapping(Config):
    """Dotted paths into a nested record (json, jsonl, parquet, hf_dataset, openai_chat)."""

    turns: str = "turns"
    role: str = "role"
    text: str = "text"
    id: str | None = None  # record id; None numbers records by position in the file
    thread: str | None = None  # records sharing this value belong to one source thread
    split: str | None = None  # a split the source assigned
    turn_fields: dict[str, str] = Field(default_factory=dict)  # canonical turn field -> path
    metadata: dict[str, str] = Field(default_factory=dict)  # metadata key -> record path

    def over(self, **defaults: str) -> RecordMapping:
        """This mapping on top of a format's own defaults: keys set in config win."""
        return RecordMapping(**{**defaults, **self.model_dump(exclude_unset=True)})


class ContextRows(Config):
    """CSV rows that describe a conversation instead of being turns (ED's "situation")."""

    column: str
    value: str
    text_to: str  # metadata key that receives the row's text


# Keys each CSV format cannot do without; the other formats read `mapping`.
CSV_REQUIRED = {"utterance_csv": ("role", "text"), "qa_csv": ("seeker_text", "helper_text")}


class PinnedFiles(Config):
    """Files fetched from the mirror folder `location` or from `url`, each checked by sha256."""

    location: RelPath | None = None  # folder in the mirror
    url: str | None = None  # or base URL the files are downloaded from
    files: dict[RelPath, str]  # relpath -> pinned sha256

    @model_validator(mode="after")
    def _somewhere(self):
        if self.location is None and self.url is None:
            raise ValueError("needs a location (folder in the mirror) or a url")
        return self


class SourceConfig(PinnedFiles):
    """One dataset: where its files come from, which to read, how, and what every row carries."""

    read: tuple[RelPath, ...] = Field(min_length=1)  # globs of the files to ingest
    format: str  # a registered reader
    license: str
    commercial_use: bool = False
    consent: bool = False
    consent_basis: str = "unknown"
    role_map: dict[str, str] = Field(default_factory=dict)  # extra role names -> seeker | helper | system
    pseudonymize: tuple[str, ...] = ()  # metadata keys stored as a stable hash
    mapping: RecordMapping = RecordMapping()
    # CSV readers: column names. `id: ""` is a real column (counsel-chat's unnamed index).
    conversation: str | None = None  # utterance_csv: rows sharing it form one conversation
    role: str | None = None
    text: str | None = None
    id: str | None = None  # qa_csv: record id column
    thread: str | None = None
    split: str | None = None
    seeker_text: tuple[str, ...] = ()  # qa_csv: joined into the seeker's turn
    helper_text: str | None = None  # qa_csv
    turn_fields: dict[str, str] = Field(default_factory=dict)  # canonical turn field -> column
    metadata: dict[str, str] = Field(default_factory=dict)  # metadata key -> column
    context_rows: ContextRows | None = None  # utterance_csv
    metadata_from_filename: str | None = None  # utterance_csv: metadata key set to the file stem

    @field_validator("format")
    @classmethod
    def _registered(cls, value: str) -> str:
        from pixelated.ingest.readers import READERS  # readers import this module

        if value not in READERS:
            raise ValueError(f"unknown format {value!r}; known: {sorted(READERS)}")
        return value

    @model_validator(mode="after")
    def _complete(self):
        missing = [key for key in CSV_REQUIRED.get(self.format, ()) if getattr(self, key) in (None, ())]
        if missing:
            raise ValueError(f"format {self.format} needs {', '.join(missing)}")
        return self


class IngestConfig(Config):
    max_field_bytes: int = Field(ge=1)  # larger CSV fields are quarantined (csv_error)
    max_per_source: int | None = Field(None, ge=1)  # a sample: first N kept rows per source


class AcquireConfig(Config):
    mirror: str | None = None  # local mirror; the PE_DATA_MIRROR environment variable wins


class ReadOptions(Config):
    """Settings of the run (not of a source) that readers need."""

    max_field_bytes: int = Field(ge=1)
    batch_size: int = Field(ge=1)  # rows per Parquet read


class AcquireStageConfig(Config):
    sources: dict[SourceName, SourceConfig]
    acquire: AcquireConfig


class IngestStageConfig(Config):
    sources: dict[SourceName, SourceConfig]
    ingest: IngestConfig
    executor: ExecutorConfig = ExecutorConfig()

    @property
    def read_options(self) -> ReadOptions:
        return ReadOptions(max_field_bytes=self.ingest.max_field_bytes, batch_size=self.executor.batch_size)
