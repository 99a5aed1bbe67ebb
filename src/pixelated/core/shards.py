"""Sharded tables: a big table is a folder of Parquet parts, each written whole, then marked done.

`data/interim/anonymized.parquet/` holds `part-00000.parquet`, `part-00001.parquet`, ...
Parts are cut at ingest, every `executor.shard_rows` conversations in input order; a stage
that maps rows writes its part k from its input's part k, so reading the parts in order gives
the rows in ingest order, and the same input gives the same bytes whatever the executor or
worker count.

When every part of shard k (its outputs and quarantine) is in place, a marker is written last,
beside the output: `data/interim/anonymized.parquet.markers/part-00000.parquet.json`. It records the
run it belongs to (`run_key`: the md5 of every input file, the stage's config and the
package's code), the md5 of each part written, and the shard's ledger and side counts. A stage
killed and rerun with the same inputs, config and code skips every shard whose marker still
matches, so it redoes only unfinished shards (DVC keeps these outputs across runs:
`persist: true`). The key covers all of the input, not the shard's part alone: dedup, score and
select decide a row from the whole table (clusters, fitted models, verdicts). The markers are
not a DVC out: they name the code and config of a run, which must not move `dvc.lock`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelated.core import atomic
from pixelated.core.hashing import file_md5

PART = "part-{:05d}.parquet"
PART_GLOB = "part-*.parquet"


@dataclass
class Shard:
    """One unit of resumable work: its index and its batches, read only if it is redone.
    Not `resumable` at ingest, whose shards are cut from a stream of source records."""

    index: int
    payloads: Iterable[Any]
    resumable: bool = True


def parts(path: str | Path) -> list[Path]:
    """The Parquet files of a table in row order: a sharded table's parts, or the file itself."""
    path = Path(path)
    return sorted(path.glob(PART_GLOB)) if path.is_dir() else [path]


def part_path(folder: Path, index: int) -> Path:
    return folder / PART.format(index)


def markers_of(folder: Path) -> Path:
    """Where the done markers of a sharded output live: beside it, not in it."""
    return folder.with_name(f"{folder.name}.markers")


def marker_path(folder: Path, index: int) -> Path:
    return markers_of(folder) / f"{PART.format(index)}.json"


def input_shards(path: Path, read: Callable[[Path], Iterable[Any]]) -> Iterator[Shard]:
    """One shard per part of the table at `path`; `read` turns a part into payloads, lazily,
    so a skipped part is never read."""
    for index, part in enumerate(parts(path)):
        yield Shard(index, _lazy(read, part))


def _lazy(read: Callable[[Path], Iterable[Any]], part: Path) -> Iterator[Any]:
    yield from read(part)


def chunked(payloads: Iterable[Any], rows: int, size: Callable[[Any], int] = len) -> Iterator[Shard]:
    """Consecutive payloads cut into shards of about `rows` rows (`size` counts a payload's),
    at least one shard, maybe empty: ingest's shards, which no sharded input identifies."""
    iterator = iter(payloads)
    index = 0
    while True:
        first = next(iterator, None)
        if first is None and index > 0:
            return
        yield Shard(index, _take(first, iterator, rows, size), resumable=False)
        index += 1


def _take(first: Any, iterator: Iterator, rows: int, size: Callable[[Any], int]) -> Iterator:
    """`first` and the payloads after it until they hold `rows` rows."""
    taken = 0
    item = first
    while item is not None:
        yield item
        taken += size(item)
        if taken >= rows:
            return
        item = next(iterator, None)


PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def code_key(package: Path = PACKAGE) -> str:
    """A hash of every file of the package, code and data (the scorers' lexicons are YAML):
    a part made by other code or other rules is not reused. Bytecode caches are not source."""
    digest = hashlib.sha256()
    files = (path for path in package.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    for path in sorted(files):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_key(stage: str, config, inputs: Iterable[Path]) -> str:
    """What a stage's shards depend on: every file of its `inputs` (tables, sharded or not,
    folders, files), its config (a pydantic model) and the code. Not how work is mapped: the
    parts do not depend on the executor or its workers."""
    digest = hashlib.sha256(f"{stage}\0{code_key()}\0".encode())
    settings = config.model_dump_json(exclude={"executor": {"kind", "workers", "ray_cpus", "ray_memory_mb"}})
    digest.update(settings.encode())
    for root in map(Path, inputs):
        for path in _files(root):
            digest.update(f"\0{path.relative_to(root.parent)}\0{file_md5(path)}".encode())
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    """The files under `root` (a folder), or `root` itself; none where nothing exists."""
    if root.is_dir():
        return sorted(path for path in root.rglob("*") if path.is_file())
    return [root] if root.exists() else []


def read_marker(folder: Path, shard: Shard, key: str, outputs: Iterable[Path]) -> dict | None:
    """The done marker of `shard` in the sharded output `folder`, if it matches this run and
    every part it lists is still what it wrote; else None (the shard is redone)."""
    if not shard.resumable:
        return None
    try:
        marker = json.loads(marker_path(folder, shard.index).read_text())
    except (OSError, ValueError):
        return None
    if marker.get("run_key") != key:
        return None
    written = {str(part_path(out, shard.index)): marker.get("parts", {}).get(out.name) for out in outputs}
    if not all(Path(path).is_file() and file_md5(Path(path)) == md5 for path, md5 in written.items()):
        return None
    return marker


def write_marker(folder: Path, shard: Shard, key: str, outputs: Iterable[Path], **counts: dict) -> None:
    """Mark `shard` done: written last, once each of `outputs` has its part."""
    parts_md5 = {out.name: file_md5(part_path(out, shard.index)) for out in outputs}
    markers_of(folder).mkdir(parents=True, exist_ok=True)
    atomic.write_json(marker_path(folder, shard.index), {"run_key": key, "parts": parts_md5, **counts})


def prepare_folder(folder: Path) -> None:
    """A sharded output's folder, without the temporaries a killed run left in it (a reader
    of the folder would take them for parts); a single-file table of the earlier layout is
    replaced."""
    if folder.is_file():
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f"*{atomic.TMP_MARK}*"):
        atomic.remove_stale(folder / leftover.name.split(atomic.TMP_MARK)[0])


def remove_beyond(folder: Path, count: int) -> None:
    """Delete parts and markers numbered `count` or more: left by an earlier, larger input."""
    for path in [*folder.glob(PART_GLOB), *markers_of(folder).glob(f"{PART_GLOB}.json")]:
        if int(path.name.removeprefix("part-").split(".")[0]) >= count:
            path.unlink()
