"""Issue 17 item 9: a source's files, read globs, location and name stay inside the mirror
and inside data/raw/<source>/; anything else is a ConfigError naming the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pixelated.core.config import ConfigError, build_config
from pixelated.ingest.acquire import acquire_all
from pixelated.ingest.config import AcquireStageConfig, IngestStageConfig
from pixelated.ingest.ingest import source_files
from tests.conftest import FIXTURE_SOURCE, PARAMS, source_config


def params_with(name: str = "demo", **keys) -> dict:
    return {**PARAMS, "sources": {name: {**FIXTURE_SOURCE, **keys}}}


@pytest.mark.parametrize("model", [IngestStageConfig, AcquireStageConfig])
@pytest.mark.parametrize(
    ("name", "keys", "message"),
    [
        ("demo", {"files": {"../../outside/secret.txt": "0" * 64}}, r"sources\.demo\.files"),
        ("../../../escaped", {}, r"sources\.\.\./\.\./\.\./escaped.*source name"),
        ("demo", {"location": "/etc"}, r"sources\.demo\.location"),
        ("demo", {"location": "../outside"}, r"sources\.demo\.location"),
        ("demo", {"read": ["../../../../etc/hostname"]}, r"sources\.demo\.read\.0"),
        ("demo", {"read": ["/etc/*"]}, r"sources\.demo\.read\.0"),
        ("demo", {"files": {"C:\\secret.txt": "0" * 64}}, r"sources\.demo\.files"),
    ],
)
def test_path_traversal_in_source_config_is_a_config_error(model, name, keys, message):
    with pytest.raises(ConfigError, match=message):
        build_config(model, params_with(name, **keys))


def test_shared_sources_stay_valid():
    assert build_config(IngestStageConfig, PARAMS).sources


def test_symlink_out_of_a_source_folder_is_refused_at_ingest(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"turns": []}\n')
    root = tmp_path / "raw" / "demo"
    root.mkdir(parents=True)
    (root / "leak.jsonl").symlink_to(outside / "secret.jsonl")
    with pytest.raises(ConfigError, match=r"sources\.demo\.read: .* resolves outside"):
        source_files(tmp_path / "raw", "demo", source_config(read=["*.jsonl"]))


def test_symlinked_location_out_of_the_mirror_is_refused_at_acquire(tmp_path):
    mirror, outside = tmp_path / "mirror", tmp_path / "outside"
    mirror.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (mirror / "demo").symlink_to(outside, target_is_directory=True)
    pinned = hashlib.sha256(b"secret").hexdigest()
    source = source_config(location="demo", files={"secret.txt": pinned})
    with pytest.raises(ConfigError, match=r"sources\.demo\.location: .* resolves outside"):
        acquire_all({"demo": source}, mirror, tmp_path / "raw")
    assert not any(Path(tmp_path / "raw").rglob("secret.txt"))
