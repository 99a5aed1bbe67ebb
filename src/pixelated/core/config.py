"""Typed, frozen config: built once from `params.yaml`, checked with errors that name the key.

Each phase declares its sections as `Config` models in `<phase>/config.py`; a stage's config
lists the top-level sections it reads, as its `params:` list in `dvc.yaml` does. Stage
scripts read `params.yaml` (never Hydra directly: `dvc exp run -S` writes overrides there,
dvc #10186), so an override reaches the stage exactly as DVC recorded it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """params.yaml does not describe a valid run; the message names each bad key."""


class Config(BaseModel):
    """A frozen config section; unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def read_params(path: str | Path = "params.yaml") -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def build_config(model: type[C], params: dict, origin: str = "params.yaml") -> C:
    """`model` from the top-level sections of `params` it declares (by field name or alias)."""
    wanted = {field.alias or name for name, field in model.model_fields.items()}
    try:
        return model.model_validate({key: params[key] for key in wanted if key in params})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" + (f" (got {e['input']!r})" if _short(e) else "")
            for e in err.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from None


def _short(error: dict) -> bool:
    """Show a bad value in the message only when it is a plain config value, not a section."""
    return isinstance(error.get("input"), str | int | float | bool) and len(str(error["input"])) < 80


def load_config(model: type[C], path: str | Path = "params.yaml") -> C:
    """The stage entry point: read `path`, set up logging, return the typed config."""
    params = read_params(path)
    setup_logging(params.get("logging", {}).get("level", "INFO"))
    return build_config(model, params, origin=str(path))


def setup_logging(level: str = "INFO") -> None:
    """Stages log counts, reasons and positions; conversation text is never logged."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- sections every phase shares -------------------------------------------------------------


class ExecutorConfig(Config):
    """How batch work is mapped: in the stage's process, over a process pool, or on Ray.

    The defaults are conf/executor/process.yaml's: CPU-heavy stages (anonymize, dedup
    features, score) use every core available; outputs do not depend on kind or workers."""

    kind: Literal["local", "process", "ray"] = "process"
    workers: int | Literal["auto"] = Field("auto", description="worker count; auto = the cores available")
    batch_size: int = Field(2000, ge=1)
    # conversations per part of a sharded table, cut at ingest (pixelated.core.shards)
    shard_rows: int = Field(50_000, ge=1)
    # what each Ray actor asks the cluster for (kind: ray only)
    ray_cpus: float = Field(1.0, gt=0)
    ray_memory_mb: int | None = Field(None, ge=1)

    @field_validator("workers")
    @classmethod
    def _positive(cls, value):
        if value != "auto" and value < 1:
            raise ValueError("must be at least 1, or auto")
        return value

    @property
    def actor_options(self) -> dict:
        """Ray actor resources from config (ignored by local and process)."""
        options: dict = {"num_cpus": self.ray_cpus}
        if self.ray_memory_mb:
            options["memory"] = self.ray_memory_mb * 1024 * 1024
        return options

    @property
    def n_workers(self) -> int:
        if self.workers == "auto":
            return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return self.workers


class EmbedConfig(Config):
    """How MiniLM runs: `openvino` (float32: the same vectors on every machine, so a fresh
    clone reproduces dvc.lock; no torch import), `openvino_bf16` (bf16 where the CPU has bf16
    units: about 2.5x the float model's speed at cosine >= 0.9999, but vectors, and so the
    lock, then depend on the CPU), `torch` (the float model) or `onnx` (int8, below the bar).
    bench/results/embedding*.json have each one's speed and agreement. The vectors differ
    slightly, so the caches key them apart (`EmbeddingCache`)."""

    backend: Literal["openvino", "openvino_bf16", "torch", "onnx"] = "openvino"


class ValidateConfig(Config):
    """The canonical schema's limits; every stage that writes conversations checks them."""

    max_turn_chars: int = Field(ge=1)


class MlflowConfig(Config):
    tracking_uri: str
    artifact_location: str
    experiment: str
