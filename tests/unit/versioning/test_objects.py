"""Object checks on a tiny fake DVC cache: missing, corrupted and intact objects, directory
manifests, and the diagnosis a failed restore prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dvc_data.hashfile.db.local import LocalHashFileDB
from dvc_objects.fs.local import LocalFileSystem

from pixelated.core.hashing import dvc_md5, file_md5
from pixelated.versioning.remote import ObjectReport, check_objects, intact, needed_objects, tree_entries
from pixelated.versioning.repo import LockedOut
from pixelated.versioning.restore import diagnose, drop_corrupted

FILES = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}


def _store(odb: LocalHashFileDB, oid: str, content: bytes) -> None:
    path = Path(odb.oid_to_path(oid))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


@pytest.fixture
def folder(tmp_path):
    """A workspace folder and the oids DVC would give it: {relpath: md5} and its `.dir` oid."""
    root = tmp_path / "work" / "data"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root, {name: file_md5(root / name) for name in FILES}, dvc_md5(root)


def _manifest(oids: dict[str, str]) -> bytes:
    entries = [{"md5": oid, "relpath": name} for name, oid in sorted(oids.items())]
    return json.dumps(entries, sort_keys=True).encode()


@pytest.fixture
def cache(tmp_path, folder):
    """A cache holding the folder's manifest and files, all intact."""
    _, oids, dir_oid = folder
    odb = LocalHashFileDB(LocalFileSystem(), str(tmp_path / "cache"))
    _store(odb, dir_oid, _manifest(oids))
    for name, oid in oids.items():
        _store(odb, oid, FILES[name])
    return odb


def test_manifest_hashes_to_the_dir_oid_dvc_records(folder, cache):
    _, oids, dir_oid = folder
    assert intact(cache, dir_oid) is True
    assert tree_entries([cache], dir_oid) == sorted(oids.items())


def test_intact_tells_absent_from_corrupted(cache, folder):
    _, oids, _ = folder
    assert intact(cache, "0" * 32) is None
    _store(cache, oids["a.txt"], b"tampered\n")
    assert intact(cache, oids["a.txt"]) is False
    assert intact(cache, oids["sub/b.txt"]) is True


def test_needed_objects_list_directory_files_and_skip_git_outputs(folder, cache):
    _, oids, dir_oid = folder
    outs = [LockedOut("data", dir_oid, True), LockedOut("reports/m.json", "f" * 32, False)]
    assert needed_objects(outs, [cache]) == [("data", dir_oid)] + [
        (f"data/{name}", oid) for name, oid in sorted(oids.items())
    ]


def test_unreadable_manifest_lists_only_the_manifest(tmp_path, folder):
    _, _, dir_oid = folder
    empty = LocalHashFileDB(LocalFileSystem(), str(tmp_path / "empty"))
    assert tree_entries([empty], dir_oid) is None
    assert needed_objects([LockedOut("data", dir_oid, True)], [empty]) == [("data", dir_oid)]


def test_check_objects_finds_missing_and_corrupted(folder, cache):
    _, oids, dir_oid = folder
    objects = needed_objects([LockedOut("data", dir_oid, True)], [cache])
    assert check_objects(cache, objects, rehash=True).ok
    _store(cache, oids["a.txt"], b"tampered\n")
    cache.fs.remove(cache.oid_to_path(oids["sub/b.txt"]))

    listed = check_objects(cache, objects, rehash=False)  # a listing sees presence only
    assert listed.checked == 3 and listed.corrupted == []
    assert listed.missing == [("data/sub/b.txt", oids["sub/b.txt"])]
    rehashed = check_objects(cache, objects, rehash=True)
    assert rehashed.missing == [("data/sub/b.txt", oids["sub/b.txt"])]
    assert rehashed.corrupted == [("data/a.txt", oids["a.txt"])]
    assert not rehashed.ok


def test_drop_corrupted_removes_only_the_bad_copy(folder, cache):
    _, oids, _ = folder
    _store(cache, oids["a.txt"], b"tampered\n")
    drop_corrupted(cache, ObjectReport(corrupted=[("data/a.txt", oids["a.txt"])]))
    assert intact(cache, oids["a.txt"]) is None
    assert intact(cache, oids["sub/b.txt"]) is True


def test_describe_lists_each_path():
    report = ObjectReport(checked=2, missing=[("x", "1" * 32)], corrupted=[("y", "2" * 32)])
    assert report.describe("in the remote").splitlines() == [
        "1 missing and 1 corrupted objects in the remote:",
        f"  missing   x (md5 {'1' * 32})",
        f"  corrupted y (md5 {'2' * 32}: content does not hash to it)",
    ]


def test_diagnose_separates_absent_corrupted_and_failed_transfers(folder, cache):
    _, oids, _ = folder
    _store(cache, oids["sub/b.txt"], b"tampered\n")
    fetched = ObjectReport(
        missing=[("data/a.txt", oids["a.txt"]), ("gone", "3" * 32)],
        corrupted=[("data/sub/b.txt", oids["sub/b.txt"])],
    )
    claimed = {oids["a.txt"], oids["sub/b.txt"]}
    text = diagnose(cache, fetched, claimed, "store")
    assert text.splitlines()[0] == "1 missing and 1 corrupted objects in remote store:"
    assert f"  missing   gone (md5 {'3' * 32})" in text
    assert "corrupted data/sub/b.txt" in text and "nothing was checked out from it" in text
    assert text.endswith("intact in the remote but not fetched (transfer failed, retry): data/a.txt")
