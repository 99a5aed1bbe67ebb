"""acquire: pinned checksums, all-or-nothing copies, mirror resolution and the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pixelated.core.config import ConfigError, build_config
from pixelated.ingest import acquire
from pixelated.ingest.acquire import (
    MANIFEST,
    MIRROR_ENV,
    AcquireError,
    acquire_all,
    acquire_source,
    resolve_mirror,
    sha256_file,
)
from pixelated.ingest.config import AcquireStageConfig, SourceConfig
from tests.conftest import PARAMS

CONTENT = {"a.jsonl": b'{"turns": []}\n', "nested/b.csv": b"x,y\n1,2\n"}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror(tmp_path) -> Path:
    root = tmp_path / "mirror"
    for relpath, data in CONTENT.items():
        path = root / "folder" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


PINNED = {relpath: digest(data) for relpath, data in CONTENT.items()}


def source_cfg(**overrides) -> SourceConfig:
    keys = {
        "location": "folder",
        "url": None,
        "files": PINNED,
        "read": ["a.jsonl"],
        "format": "jsonl",
        "license": "CC0",
        "commercial_use": True,
    }
    return SourceConfig.model_validate({**keys, **overrides})


def leftovers(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000  # > 1 MiB, so several blocks
    path.write_bytes(data)
    assert sha256_file(path) == digest(data)


def test_acquire_all_copies_pinned_files_and_writes_manifest(mirror, tmp_path):
    raw = tmp_path / "raw"
    (raw / "stale").mkdir(parents=True)
    (raw / "stale" / "old.txt").write_text("left from an earlier run")
    acquire_all({"demo": source_cfg()}, mirror, raw)
    assert leftovers(raw) == [MANIFEST, "demo/a.jsonl", "demo/nested/b.csv"]
    for relpath, data in CONTENT.items():
        assert (raw / "demo" / relpath).read_bytes() == data
    manifest = json.loads((raw / MANIFEST).read_text())
    assert manifest == {
        "demo": {
            "license": "CC0",
            "commercial_use": True,
            "files": {relpath: digest(data) for relpath, data in sorted(CONTENT.items())},
        }
    }


def test_missing_file_names_the_source(mirror, tmp_path):
    cfg = source_cfg(files={**PINNED, "gone.json": "0" * 64})
    with pytest.raises(AcquireError, match=r"source 'demo': gone\.json not found") as caught:
        acquire_source("demo", cfg, mirror, tmp_path / "raw")
    assert MIRROR_ENV in str(caught.value)
    assert "gone.json" not in leftovers(tmp_path / "raw")


def test_missing_location_folder(mirror, tmp_path):
    with pytest.raises(AcquireError, match="source 'demo'"):
        acquire_source("demo", source_cfg(location="elsewhere"), mirror, tmp_path / "raw")


def test_no_mirror_and_no_url(tmp_path):
    with pytest.raises(AcquireError, match="source 'demo' has no url and no mirror"):
        acquire_source("demo", source_cfg(), None, tmp_path / "raw")


def test_wrong_checksum_names_source_and_file_and_leaves_nothing(mirror, tmp_path):
    cfg = source_cfg(files={**PINNED, "nested/b.csv": "f" * 64})
    raw = tmp_path / "raw"
    with pytest.raises(AcquireError) as caught:
        acquire_source("demo", cfg, mirror, raw)
    message = str(caught.value)
    assert "source 'demo'" in message and "nested/b.csv" in message
    assert digest(CONTENT["nested/b.csv"]) in message and "f" * 64 in message
    # the bad file is not in raw, under its name or as a temporary partial
    assert "demo/nested/b.csv" not in leftovers(raw)
    assert leftovers(raw / "demo" / "nested") == []


def test_acquire_all_stops_at_first_bad_source_without_manifest(mirror, tmp_path):
    bad = source_cfg(files={**PINNED, "a.jsonl": "0" * 64})
    raw = tmp_path / "raw"
    with pytest.raises(AcquireError, match=r"source 'b_bad': a\.jsonl has sha256"):
        acquire_all({"a_good": source_cfg(), "b_bad": bad}, mirror, raw)
    assert not (raw / MANIFEST).exists()
    assert not (raw / "b_bad" / "a.jsonl").exists()


def test_url_source_is_downloaded_and_checked(mirror, tmp_path):
    url = (mirror / "folder").as_uri() + "/"
    acquire_source("remote", source_cfg(url=url, location=None), None, tmp_path / "raw")
    assert (tmp_path / "raw" / "remote" / "a.jsonl").read_bytes() == CONTENT["a.jsonl"]

    cfg = source_cfg(url=url, location=None, files={**PINNED, "missing.txt": "0" * 64})
    with pytest.raises(AcquireError, match=r"source 'remote': cannot download .*missing\.txt"):
        acquire_source("remote", cfg, None, tmp_path / "raw2")


def test_resolve_mirror_env_overrides_config(monkeypatch, tmp_path):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert resolve_mirror("../shared/data") == Path("../shared/data")
    assert resolve_mirror(None) is None
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    assert resolve_mirror("../shared/data") == tmp_path
    assert resolve_mirror(None) == tmp_path
    monkeypatch.setenv(MIRROR_ENV, "")
    assert resolve_mirror("conf/mirror") == Path("conf/mirror")


def test_env_mirror_is_used_by_acquire(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    raw = tmp_path / "raw"
    acquire_all({"demo": source_cfg()}, resolve_mirror("/nonexistent/mirror"), raw)
    assert (raw / "demo" / "a.jsonl").read_bytes() == CONTENT["a.jsonl"]


def test_shared_sources_acquire_with_pinned_checksums(shared_sources, shared_raw):
    manifest = json.loads((shared_raw / MANIFEST).read_text())
    assert set(manifest) == set(shared_sources)
    for name, cfg in shared_sources.items():
        assert manifest[name]["license"] == cfg.license
        for relpath, pinned in cfg.files.items():
            assert sha256_file(shared_raw / name / relpath) == pinned, f"{name}/{relpath}"


def test_run_takes_sources_and_mirror_from_params(mirror, tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    params = {**PARAMS, "sources": {"demo": source_cfg().model_dump()}, "acquire": {"mirror": str(mirror)}}
    acquire.run(build_config(AcquireStageConfig, params), acquire.AcquirePaths(tmp_path / "raw"))
    assert leftovers(tmp_path / "raw") == [MANIFEST, "demo/a.jsonl", "demo/nested/b.csv"]


def test_a_source_without_location_or_url_is_a_config_error():
    params = {**PARAMS, "sources": {"demo": {**source_cfg().model_dump(), "location": None}}}
    with pytest.raises(ConfigError, match=r"sources\.demo: .*needs a location .* or a url"):
        build_config(AcquireStageConfig, params)
