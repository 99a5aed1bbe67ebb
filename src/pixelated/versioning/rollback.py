"""Model rollback: point the registered model's alias back at the version trained on a data
version, found by the dvc.lock hashes its run was tagged with."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from pixelated.versioning.repo import LOCK, VersioningError, git, resolve

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "champion"


def lock_hashes(root: Path, commit: str) -> dict[str, str]:
    """path -> md5 of every dependency and output in dvc.lock at `commit`."""
    lock = yaml.safe_load(git(root, "show", f"{commit}:{LOCK}")) or {}
    hashes = {}
    for stage in lock.get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            if "md5" in entry:
                hashes[entry["path"]] = entry["md5"]
    return hashes


def trained_on(tags: dict[str, str], hashes: dict[str, str], commit: str) -> bool:
    """Whether a run's tags name this data version: every `dvc.md5.<path>` tag equals that
    path's hash in its dvc.lock; runs without such tags match on their git commit."""
    data_tags = {k.removeprefix("dvc.md5."): v for k, v in tags.items() if k.startswith("dvc.md5.")}
    if data_tags:
        return all(hashes.get(path) == md5 for path, md5 in data_tags.items())
    return tags.get("git_commit") == commit


def rollback_model(root: Path, rev: str, model: str, tracking_uri: str, alias: str = DEFAULT_ALIAS) -> int:
    """Point `model@alias` at the newest registered version trained on data version `rev`."""
    from mlflow import MlflowClient

    commit = resolve(root, rev)
    hashes = lock_hashes(root, commit)
    client = MlflowClient(tracking_uri)
    matches = [
        int(version.version)
        for version in client.search_model_versions(f"name = '{model}'")
        if trained_on(client.get_run(version.run_id).data.tags if version.run_id else {}, hashes, commit)
    ]
    if not matches:
        raise VersioningError(f"no version of model {model!r} was trained on {rev} ({commit[:12]})")
    chosen = max(matches)
    client.set_registered_model_alias(model, alias, str(chosen))
    log.info("%s@%s -> version %d (data version %s)", model, alias, chosen, rev)
    return chosen
