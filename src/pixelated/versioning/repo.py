"""The repository side of a data version: git revisions and the outputs dvc.lock names."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LOCK = "dvc.lock"
# What defines a data version besides its outputs: restored together with them.
PIPELINE_FILES = ("dvc.yaml", "dvc.lock", "params.yaml", "conf")


class VersioningError(RuntimeError):
    """A backup, restore or rollback cannot be completed; the message says what is wrong."""


@dataclass(frozen=True)
class LockedOut:
    """One output as dvc.lock records it; `cached` outputs live in the DVC cache and remote,
    the others (small reports, `cache: false`) in git."""

    path: str
    md5: str
    cached: bool

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def git(root: Path, *args: str) -> str:
    """stdout of a git command; its stderr as a VersioningError when it fails."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise VersioningError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def resolve(root: Path, rev: str) -> str:
    """The commit a revision or tag names; a clear error for an unknown one."""
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except VersioningError:
        raise VersioningError(f"unknown revision {rev!r}") from None


def tracked_at(root: Path, commit: str, paths: Sequence[str]) -> list[str]:
    """Those of `paths` (files or folders) git tracks at `commit`."""
    listed = git(root, "ls-tree", "-r", "--name-only", commit, "--", *paths).splitlines()
    return [path for path in paths if any(name == path or name.startswith(f"{path}/") for name in listed)]


def open_repo(root: Path):
    """The DVC repo at `root`; imported late so the CLI's --help stays fast."""
    from dvc.repo import Repo

    return Repo(str(root))


def locked_outputs(root: Path, pointers: bool = False) -> list[LockedOut]:
    """Every output in the workspace's dvc.lock; with `pointers`, also those of `.dvc` files
    (the MLflow backup), which are not part of a data version."""
    with open_repo(root) as repo:
        outs = [
            LockedOut(str(out.def_path), out.hash_info.value, bool(out.use_cache))
            for out in repo.index.outs
            if out.hash_info and out.hash_info.value and (pointers or not out.stage.is_data_source)
        ]
    return sorted(outs, key=lambda out: out.path)


def pipeline_files(repo) -> list[str]:
    """The dvc.yaml files of the pipeline, as fetch/checkout targets (skips `.dvc` pointers)."""
    return sorted({stage.dvcfile.relpath for stage in repo.index.stages if not stage.is_data_source})
