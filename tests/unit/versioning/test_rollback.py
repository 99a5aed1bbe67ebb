"""Which registered model versions a data version names: dvc.lock hashes vs run tags."""

from __future__ import annotations

import pytest
import yaml

from pixelated.versioning.repo import LOCK, VersioningError, resolve
from pixelated.versioning.rollback import lock_hashes, trained_on
from tests.unit.versioning.conftest import commit_all

LOCKED = {
    "schema": "2.0",
    "stages": {
        "split": {
            "cmd": "python -m stages.split",
            "deps": [{"path": "data/interim/filtered.parquet", "md5": "a" * 32}, {"path": "params.yaml"}],
            "outs": [{"path": "data/splits", "md5": "b" * 32 + ".dir"}],
        }
    },
}


def test_lock_hashes_read_deps_and_outs_at_a_commit(git_repo):
    (git_repo / LOCK).write_text(yaml.safe_dump(LOCKED))
    commit = commit_all(git_repo, "v1")
    (git_repo / LOCK).write_text(yaml.safe_dump({"stages": {}}))
    commit_all(git_repo, "v2")
    assert lock_hashes(git_repo, commit) == {
        "data/interim/filtered.parquet": "a" * 32,
        "data/splits": "b" * 32 + ".dir",
    }
    assert resolve(git_repo, "HEAD~1") == commit
    with pytest.raises(VersioningError, match="unknown revision 'nope'"):
        resolve(git_repo, "nope")


def test_trained_on_matches_every_data_tag_or_else_the_commit():
    hashes = {"data/splits": "b" * 32 + ".dir", "data/interim/filtered.parquet": "a" * 32}
    assert trained_on({"dvc.md5.data/splits": "b" * 32 + ".dir"}, hashes, "c1")
    assert not trained_on({"dvc.md5.data/splits": "b" * 32 + ".dir", "dvc.md5.x": "0"}, hashes, "c1")
    assert not trained_on({"dvc.md5.data/splits": "0", "git_commit": "c1"}, hashes, "c1")  # tags win
    assert trained_on({"git_commit": "c1"}, hashes, "c1")
    assert not trained_on({"git_commit": "c2"}, hashes, "c1")
    assert not trained_on({}, hashes, "c1")
