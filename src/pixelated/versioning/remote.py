"""Objects in a DVC cache or remote: which a data version needs, which are missing or corrupted;
verify and backup of the remote."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pixelated.core.hashing import stream_digest
from pixelated.versioning.mlflow_store import snapshot_mlflow
from pixelated.versioning.repo import LockedOut, VersioningError, locked_outputs, open_repo

log = logging.getLogger(__name__)


@dataclass
class ObjectReport:
    """What a check of remote or cache objects found, per output path."""

    checked: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    corrupted: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupted

    def describe(self, where: str) -> str:
        lines = [f"{len(self.missing)} missing and {len(self.corrupted)} corrupted objects {where}:"]
        lines += [f"  missing   {path} (md5 {oid})" for path, oid in self.missing]
        lines += [
            f"  corrupted {path} (md5 {oid}: content does not hash to it)" for path, oid in self.corrupted
        ]
        return "\n".join(lines)


def _object_md5(odb, oid: str) -> str | None:
    """The md5 of an object's bytes as stored (a `.dir` object hashes to its oid without suffix)."""
    try:
        with odb.fs.open(odb.oid_to_path(oid), "rb") as handle:
            return stream_digest(handle)
    except FileNotFoundError:
        return None


def intact(odb, oid: str) -> bool | None:
    """True when stored and intact, False when stored but corrupted, None when absent."""
    digest = _object_md5(odb, oid)
    return None if digest is None else digest == oid.removesuffix(".dir")


def tree_entries(odbs: list, oid: str) -> list[tuple[str, str]] | None:
    """(relative path, md5) of every file in a directory object, read from the first intact copy."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    for odb in odbs:
        if intact(odb, oid):
            tree = Tree.load(odb, HashInfo("md5", oid))
            return sorted(("/".join(key), hash_info.value) for key, _, hash_info in tree)
    return None


def needed_objects(outs: Iterable[LockedOut], odbs: list) -> list[tuple[str, str]]:
    """(workspace path, oid) of every object the cached outputs need; a directory's files
    are listed when its manifest can be read, otherwise only the manifest itself."""
    objects = []
    for out in outs:
        if not out.cached:
            continue
        objects.append((out.path, out.md5))
        if out.is_dir:
            entries = tree_entries(odbs, out.md5) or []
            objects += [(f"{out.path}/{name}", oid) for name, oid in entries]
    return objects


def check_objects(odb, objects: list[tuple[str, str]], rehash: bool) -> ObjectReport:
    """Which objects `odb` lacks and, with `rehash`, which it holds with the wrong content."""
    report = ObjectReport()
    oids = sorted({oid for _, oid in objects})
    # A listing, not odb.oids_exist: for a local remote that verifies (and deletes) objects.
    present = set(odb.all()) if not rehash else set()
    state = {oid: (intact(odb, oid) if rehash else (True if oid in present else None)) for oid in oids}
    for path, oid in objects:
        report.checked += 1
        if state[oid] is None:
            report.missing.append((path, oid))
        elif state[oid] is False:
            report.corrupted.append((path, oid))
    return report


def remote_odb(repo, remote: str | None):
    """The object store of a DVC remote (None: the default one)."""
    try:
        return repo.cloud.get_remote_odb(remote)
    except Exception as error:  # DVC raises several config errors; all mean "no such remote"
        raise VersioningError(f"DVC remote {remote or '(default)'}: {error}") from error


def verify(
    root: Path, remote: str | None = None, rehash: bool = False, pointers: bool = False
) -> ObjectReport:
    """Check that every object dvc.lock names (and with `pointers`, every `.dvc` file) is in
    the remote; `rehash` downloads and re-hashes each one too."""
    outs = locked_outputs(root, pointers)
    with open_repo(root) as repo:
        odb = remote_odb(repo, remote)
        objects = needed_objects(outs, [repo.cache.local, odb])
        return check_objects(odb, objects, rehash)


def backup(root: Path, remote: str | None = None) -> ObjectReport:
    """Push every dvc.lock output and a snapshot of the MLflow store, then verify the remote."""
    snapshot = snapshot_mlflow(root)
    with open_repo(root) as repo:
        if snapshot is not None:
            repo.add([str(snapshot)])
        pushed = repo.push(remote=remote)
    log.info("pushed %d objects to %s", pushed, remote or "the default remote")
    report = verify(root, remote, pointers=True)
    if not report.ok:
        raise VersioningError(report.describe("in the remote after push"))
    return report
