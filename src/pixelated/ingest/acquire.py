"""Bring configured sources into data/raw, each file checked against a pinned sha256.

A source is a folder in a local mirror (`acquire.mirror`, overridden by the environment
variable PE_DATA_MIRROR) or a base URL. Acquisition is all or nothing: a missing file or a
wrong checksum stops the pipeline with an error naming the source and file, because
everything downstream would otherwise silently describe different data.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pixelated.core.hashing import sha256_file
from pixelated.ingest.config import AcquireStageConfig, PinnedFiles, SourceConfig, resolved_inside

log = logging.getLogger(__name__)

MIRROR_ENV = "PE_DATA_MIRROR"
MANIFEST = "MANIFEST.json"


class AcquireError(RuntimeError):
    """A configured source could not be brought in intact."""


@dataclass(frozen=True)
class AcquirePaths:
    output: Path  # data/raw/sources: one folder per source, plus the manifest


def run(cfg: AcquireStageConfig, paths: AcquirePaths) -> None:
    acquire_all(cfg.sources, resolve_mirror(cfg.acquire.mirror), paths.output)


def resolve_mirror(configured: str | None) -> Path | None:
    value = os.environ.get(MIRROR_ENV) or configured
    return Path(value) if value else None


def _fetch(name: str, source: PinnedFiles, relpath: str, mirror: Path | None, target: Path) -> None:
    if source.url:
        url = f"{source.url.rstrip('/')}/{relpath}"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise AcquireError(f"source {name!r}: cannot download {url}: {err}") from err
        return
    if mirror is None:
        raise AcquireError(
            f"source {name!r} has no url and no mirror is set ({MIRROR_ENV} or acquire.mirror)"
        )
    folder = mirror / source.location
    resolved_inside(folder, mirror, f"sources.{name}.location")
    origin = mirror / source.location / relpath
    resolved_inside(origin, folder, f"sources.{name}.files")
    if not origin.is_file():
        raise AcquireError(
            f"source {name!r}: {relpath} not found at {origin} (set {MIRROR_ENV} or acquire.mirror)"
        )
    shutil.copyfile(origin, target)


def add_to_mirror(folder: Path, mirror: Path) -> Path:
    """Place a source folder inside a mirror as real files (hard links where the filesystem
    allows, else copies), never as a symlink: `acquire` refuses paths that resolve outside
    the mirror, and a linked folder would."""
    target = mirror / folder.name
    shutil.copytree(folder, target, copy_function=_link_or_copy, dirs_exist_ok=True)
    return target


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def acquire_source(name: str, source: PinnedFiles, mirror: Path | None, raw_dir: Path) -> dict[str, str]:
    """Copy or download every pinned file of one source; returns {relpath: sha256}."""
    destination = raw_dir / name
    destination.mkdir(parents=True, exist_ok=True)
    resolved_inside(destination, raw_dir, f"sources.{name}")
    for relpath, pinned in sorted(source.files.items()):
        target = destination / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        resolved_inside(target, destination, f"sources.{name}.files")
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            partial = Path(tmp.name)
        try:
            _fetch(name, source, relpath, mirror, partial)
            actual = sha256_file(partial)
            if actual != pinned:
                raise AcquireError(f"source {name!r}: {relpath} has sha256 {actual}, config pins {pinned}")
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        log.info("acquired %s/%s (%s)", name, relpath, pinned[:12])
    return dict(sorted(source.files.items()))


def acquire_all(sources: Mapping[str, SourceConfig], mirror: Path | None, raw_dir: Path) -> None:
    """Acquire every source and write a manifest of what is in data/raw and under which licence."""
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    manifest = {}
    for name, source in sorted(sources.items()):
        manifest[name] = {
            "license": source.license,
            "commercial_use": source.commercial_use,
            "files": acquire_source(name, source, mirror, raw_dir),
        }
    (raw_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
