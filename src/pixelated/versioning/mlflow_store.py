"""The MLflow store (sqlite database + artifact folder) as part of a backup: a consistent
snapshot under mlflow-backup/ that DVC pushes, and its restore."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from pixelated.core.config import Config, MlflowConfig, build_config, read_params
from pixelated.versioning.repo import VersioningError, open_repo

MLFLOW_BACKUP = "mlflow-backup"


class StoreConfig(Config):
    """The params.yaml section that says where the pipeline's MLflow store lives."""

    mlflow: MlflowConfig


def mlflow_paths(root: Path) -> tuple[Path, Path]:
    """The sqlite file and artifact folder the pipeline's MLflow config points at."""
    params_file = root / "params.yaml"
    cfg = build_config(StoreConfig, read_params(params_file), origin=str(params_file)).mlflow
    if not cfg.tracking_uri.startswith("sqlite:///"):
        raise VersioningError(f"MLflow backup supports sqlite tracking URIs, not {cfg.tracking_uri}")
    return root / cfg.tracking_uri.removeprefix("sqlite:///"), root / cfg.artifact_location


def snapshot_mlflow(root: Path) -> Path | None:
    """A consistent copy of the MLflow store under mlflow-backup/ (sqlite's online backup,
    so a run being logged meanwhile cannot tear it); None when there is no store yet."""
    db, artifacts = mlflow_paths(root)
    if not db.is_file():
        return None
    target = root / MLFLOW_BACKUP
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(target / db.name)) as copy:
        source.backup(copy)
    if artifacts.is_dir():
        shutil.copytree(artifacts, target / artifacts.name)
    return target.relative_to(root)


def restore_mlflow(root: Path, remote: str | None = None, force: bool = False) -> Path:
    """Bring the MLflow store back from the last backup (mlflow-backup.dvc)."""
    pointer = root / f"{MLFLOW_BACKUP}.dvc"
    if not pointer.is_file():
        raise VersioningError(f"no {pointer.name}: run a backup first")
    db, artifacts = mlflow_paths(root)
    if db.exists() and not force:
        raise VersioningError(f"{db.name} exists; pass --force to replace it with the backup")
    with open_repo(root) as repo:
        repo.pull([str(pointer)], remote=remote)
    source = root / MLFLOW_BACKUP
    shutil.copyfile(source / db.name, db)
    if (source / artifacts.name).is_dir():
        shutil.rmtree(artifacts, ignore_errors=True)
        shutil.copytree(source / artifacts.name, artifacts)
    return db
