"""MLflow logging for stages that produce metrics.

Runs go to a local SQLite store (`mlflow.db`, git-ignored; the plain file store is refused
by MLflow 3.13+) with artifacts under `mlruns/`. Each run is tagged with the git commit and
the md5 of every input file, the same hash `dvc.lock` records for it, so a run can be
traced to the exact data it describes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def file_md5(path: Path) -> str:
    """The md5 DVC records in dvc.lock for a file output."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"mlflow.source.git.commit": commit, "git_commit": commit, "git_dirty": str(dirty).lower()}


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists are kept whole."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_stage_run(
    stage: str,
    mlflow_cfg: dict,
    *,
    params: dict,
    metrics: dict,
    inputs: list[Path],
    artifacts: list[Path] = (),
) -> str:
    """Log one stage's params, numeric metrics and artifacts; returns the run id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(mlflow_cfg["tracking_uri"])
    name = mlflow_cfg["experiment"]
    if mlflow.get_experiment_by_name(name) is None:
        artifact_root = Path(mlflow_cfg["artifact_location"]).resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=artifact_root)
    mlflow.set_experiment(name)
    tags = {"stage": stage, **git_state()}
    tags.update({f"dvc.md5.{path.as_posix()}": file_md5(path) for path in inputs})
    numeric = {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, int | float)}
    with mlflow.start_run(run_name=stage, tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(params).items()})
        mlflow.log_metrics(numeric)
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
    log.info("logged %s to MLflow run %s (%d metrics)", stage, run.info.run_id, len(numeric))
    return run.info.run_id
