"""MLflow logging for stages that produce metrics.

Runs go to a local SQLite store (`mlflow.db`, git-ignored; the plain file store is refused
by MLflow 3.13+) with artifacts under `mlruns/`. Each run is tagged with the git commit and
the hash of every input file or folder, the same hash `dvc.lock` records for it, so a run
can be traced to the exact data it describes. Trained models are logged as MLflow models and
registered with the data version they were trained on.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pixelated.core.config import MlflowConfig
from pixelated.core.hashing import dvc_md5
from pixelated.core.resources import RESOURCES

log = logging.getLogger(__name__)


def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    # the resources file is rewritten by every stage run: it would mark every run dirty
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){RESOURCES}"))
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


@contextmanager
def stage_run(stage: str, mlflow_cfg: MlflowConfig, *, params: dict, inputs: list[Path]) -> Iterator:
    """An active MLflow run for one stage, tagged with the git commit and the dvc.lock hash of
    every input, with `params` logged; yields the `mlflow.ActiveRun`."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(mlflow_cfg.tracking_uri)
    name = mlflow_cfg.experiment
    if mlflow.get_experiment_by_name(name) is None:
        artifact_root = Path(mlflow_cfg.artifact_location).resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=artifact_root)
    mlflow.set_experiment(name)
    tags = {"stage": stage, **git_state()}
    tags.update({f"dvc.md5.{Path(path).as_posix()}": dvc_md5(path) for path in inputs})
    with mlflow.start_run(run_name=stage, tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(params).items()})
        yield run


def numeric_metrics(metrics: dict) -> dict[str, float]:
    """The numbers in a nested metrics dict, flattened to MLflow metric names."""
    return {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, int | float)}


def log_stage_run(
    stage: str,
    mlflow_cfg: MlflowConfig,
    *,
    params: dict,
    metrics: dict,
    inputs: list[Path],
    artifacts: list[Path] = (),
) -> str:
    """Log one stage's params, numeric metrics and artifacts; returns the run id."""
    import mlflow

    numeric = numeric_metrics(metrics)
    with stage_run(stage, mlflow_cfg, params=params, inputs=inputs) as run:
        mlflow.log_metrics(numeric)
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
    log.info("logged %s to MLflow run %s (%d metrics)", stage, run.info.run_id, len(numeric))
    return run.info.run_id


def log_history(history: list[dict], step: str = "epoch") -> None:
    """Per-step metrics (one dict per epoch) into the active run, so MLflow draws the curves."""
    import mlflow

    for row in history:
        values = {k: v for k, v in numeric_metrics(row).items() if k != step}
        mlflow.log_metrics(values, step=int(row[step]))


def log_registered_sentence_model(
    model, name: str, alias: str, *, data_version: str, description: str, tags: dict[str, str] | None = None
) -> str:
    """Log `model` into the active run as an MLflow sentence-transformers model and register it
    under `name`, tagged with the data version and pointed to by `alias` (the registry needs the
    sqlite backend; aliases replace the deprecated stages)."""
    import mlflow

    flavor = mlflow.sentence_transformers
    # the flavour's pinned defaults: inferring them re-loads the model in a subprocess (minutes on CPU)
    info = flavor.log_model(
        model,
        name="model",
        registered_model_name=name,
        pip_requirements=flavor.get_default_pip_requirements(),
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.update_model_version(name, version, description=description)
    for key, value in {"data_version": data_version, **(tags or {})}.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, alias, version)
    log.info("registered %s version %s as @%s", name, version, alias)
    return version
