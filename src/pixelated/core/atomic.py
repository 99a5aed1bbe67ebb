"""Outputs appear whole or not at all: write to a temporary name beside the target, then rename.

A stage killed mid-write (SIGKILL, power loss, a crash) leaves at most a `<name>.tmp-<pid>`
file, never a half-written output that DVC or the next stage could take for a finished one.
`os.replace` is atomic within a filesystem, which is why the temporary file sits in the same
folder. Temporaries left by dead processes are removed the next time the output is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pixelated.core.process import raise_if_stopped

TMP_MARK = ".tmp-"


def temp_name(path: Path, pid: int | None = None) -> Path:
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid() if pid is None else pid}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale(path: Path) -> None:
    """Delete temporaries of `path` whose writer is dead: what a killed run left behind."""
    for leftover in path.parent.glob(f"{path.name}{TMP_MARK}*"):
        pid = leftover.name.rsplit(TMP_MARK, 1)[1]
        if not pid.isdigit() or not _alive(int(pid)) or int(pid) == os.getpid():
            leftover.unlink(missing_ok=True)


def prepare(path: str | Path) -> tuple[Path, Path]:
    """(target, temporary) for `path`: the folder exists and stale temporaries are gone."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    return target, temp_name(target)


def commit(tmp: Path, target: Path) -> None:
    raise_if_stopped()  # a stopped stage publishes nothing, even where its SystemExit was lost
    os.replace(tmp, target)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` only if the block succeeds."""
    target, tmp = prepare(path)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data) -> None:
    """The project's JSON layout for reports and metrics: indented, sorted keys, final newline."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
