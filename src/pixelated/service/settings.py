"""Service settings, read once from the environment (12-factor: the same image runs anywhere)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SCORERS = "models/scorers"  # the trained scorers the score stage reads (train_scorers, dvc.yaml)
EMBEDDINGS = "data/cache/turn_embeddings.parquet"  # the score stage's turn-vector cache


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PE_SERVICE_{name}", default)


def _hosts(value: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in value.split(",") if h.strip())


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()).resolve() for p in value.split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    """Where state lives and the limits that keep the service safe."""

    home: Path  # service.db, uploads/, workspaces/
    repo: Path  # the pipeline repository whose tracked files seed each job's workspace
    scorers: Path  # the trained scorer folder the score stage reads (models/scorers)
    embeddings: tuple[Path, ...] = ()  # turn-vector caches read (never written) by /v1/score
    max_body_bytes: int = 20 * 1024 * 1024
    rate_per_minute: int = 600  # per API key, per API process
    webhook_hosts: tuple[str, ...] = ()  # allow-list of callback hosts ('*' = any public host)
    webhook_allow_private: bool = False  # loopback/private callback addresses (tests only)
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0
    job_lease_s: float = 30.0  # a running job whose worker stops renewing is reclaimed after this
    data_mirror: str = field(default_factory=lambda: os.environ.get("PE_DATA_MIRROR", ""))

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(_env("HOME", "service")).resolve()
        repo = Path(_env("REPO", ".")).resolve()
        return cls(
            home=home,
            repo=repo,
            scorers=Path(_env("SCORERS", str(repo / SCORERS))).resolve(),
            embeddings=_paths(_env("EMBEDDINGS", str(repo / EMBEDDINGS))),
            max_body_bytes=int(_env("MAX_BODY_BYTES", str(20 * 1024 * 1024))),
            rate_per_minute=int(_env("RATE_PER_MINUTE", "600")),
            webhook_hosts=_hosts(_env("WEBHOOK_HOSTS", "")),
            webhook_allow_private=_env("WEBHOOK_ALLOW_PRIVATE", "0") == "1",
            webhook_attempts=int(_env("WEBHOOK_ATTEMPTS", "6")),
            webhook_backoff_s=float(_env("WEBHOOK_BACKOFF_S", "2.0")),
            job_lease_s=float(_env("JOB_LEASE_S", "30")),
        )

    @property
    def db(self) -> Path:
        return self.home / "service.db"

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    @property
    def workspaces(self) -> Path:
        return self.home / "workspaces"
