"""Restore a data version into the workspace: pipeline files from git, outputs from the
remote, every object re-hashed before checkout and every file after."""

from __future__ import annotations

import logging
from pathlib import Path

from pixelated.core.hashing import file_md5
from pixelated.versioning.remote import (
    ObjectReport,
    check_objects,
    intact,
    needed_objects,
    remote_odb,
    tree_entries,
)
from pixelated.versioning.repo import (
    PIPELINE_FILES,
    LockedOut,
    VersioningError,
    git,
    locked_outputs,
    open_repo,
    pipeline_files,
    resolve,
    tracked_at,
)

log = logging.getLogger(__name__)


def diagnose(odb, fetched: ObjectReport, claimed: set[str], remote: str | None) -> str:
    """Why objects did not arrive intact: absent from the remote, corrupted there (DVC may
    already have dropped it after its own hash check), or a transfer that failed."""
    bad = ObjectReport()
    retry = []
    for path, oid in fetched.missing + fetched.corrupted:
        if oid not in claimed:
            bad.missing.append((path, oid))
        elif intact(odb, oid):
            retry.append(path)
        else:
            bad.corrupted.append((path, oid))
    lines = [bad.describe(f"in remote {remote or '(default)'}")]
    if bad.corrupted:
        lines.append(
            "(corrupted: the remote holds it, but its content does not hash to its md5; "
            "nothing was checked out from it)"
        )
    if retry:
        lines.append(f"intact in the remote but not fetched (transfer failed, retry): {', '.join(retry)}")
    return "\n".join(lines)


def drop_corrupted(cache, report: ObjectReport) -> None:
    """Delete corrupted copies from the local cache, so nothing is ever checked out from them."""
    for _, oid in report.corrupted:
        cache.fs.remove(cache.oid_to_path(oid))


def workspace_report(root: Path, outs: list[LockedOut]) -> ObjectReport:
    """Re-hash every restored file against dvc.lock (directories file by file)."""
    report = ObjectReport()
    with open_repo(root) as repo:
        cache = repo.cache.local
    for out in outs:
        expected = [(out.path, out.md5)]
        if out.is_dir:
            entries = tree_entries([cache], out.md5)
            expected = [(f"{out.path}/{name}", oid) for name, oid in entries or []]
        for path, oid in expected:
            report.checked += 1
            target = root / path
            if not target.is_file():
                report.missing.append((path, oid))
            elif file_md5(target) != oid:
                report.corrupted.append((path, oid))
    return report


def _checkout_from_git(root: Path, commit: str, rev: str) -> list[LockedOut]:
    """Check out `commit`'s pipeline files and git-tracked outputs; its dvc.lock's outputs."""
    git(root, "checkout", commit, "--", *tracked_at(root, commit, PIPELINE_FILES))
    outs = locked_outputs(root)
    in_git = [out.path for out in outs if not out.cached]
    if in_git:
        found = tracked_at(root, commit, in_git)
        absent = sorted(set(in_git) - set(found))
        if absent:
            raise VersioningError(f"{rev}: not in git at that revision: {', '.join(absent)}")
        git(root, "checkout", commit, "--", *found)
    return outs


def _checkout_from_remote(root: Path, outs: list[LockedOut], rev: str, remote: str | None) -> None:
    """Fetch the cached outputs, re-hash every object in the cache, then check them out."""
    from dvc.exceptions import DvcException
    from dvc_objects.errors import ObjectFormatError

    with open_repo(root) as repo:
        odb, cache = remote_odb(repo, remote), repo.cache.local
        objects = needed_objects(outs, [cache, odb])
        drop_corrupted(cache, check_objects(cache, objects, rehash=True))
        # DVC drops an object that fails its hash check on download (even from the remote),
        # so note beforehand which of the objects to fetch the remote claims to hold.
        claimed = {oid for _, oid in objects} - {oid for _, oid in check_objects(odb, objects, False).missing}
        try:
            repo.fetch(targets=pipeline_files(repo), remote=remote)
        # diagnosed object by object below; a corrupted directory manifest (a sharded table's)
        # stops DVC's fetch with ObjectFormatError instead of being dropped like a file
        except (DvcException, ObjectFormatError) as error:
            log.warning("fetch incomplete: %s", error)
        fetched = check_objects(cache, needed_objects(outs, [cache, odb]), rehash=True)
        drop_corrupted(cache, fetched)
        if not fetched.ok:
            raise VersioningError(f"cannot restore {rev}: " + diagnose(odb, fetched, claimed, remote))
        repo.checkout(targets=pipeline_files(repo), force=True)


def restore(root: Path, rev: str, remote: str | None = None) -> ObjectReport:
    """Restore the data version `rev` (a commit or tag) into the workspace.

    Its pipeline files and git-tracked reports come from git; its cached outputs are fetched
    from the remote, every object is re-hashed before checkout, and the workspace is re-hashed
    after. Anything the remote lacks or holds corrupted stops the restore with a list of paths.
    """
    commit = resolve(root, rev)
    outs = _checkout_from_git(root, commit, rev)
    _checkout_from_remote(root, outs, rev, remote)
    report = workspace_report(root, outs)
    if not report.ok:
        raise VersioningError(report.describe(f"in the workspace after restoring {rev}"))
    log.info("restored %s (%s): %d files match dvc.lock", rev, commit[:12], report.checked)
    return report
