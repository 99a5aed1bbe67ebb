"""What each stage run cost: wall time, CPU time, peak RSS and rows/s, in reports/resources.json.

`runner.stage_args` registers `record_at_exit` for every stage process, so no stage measures
itself. An entry is written only when the stage ends well; a failed or killed stage leaves the
previous entry. The report stage logs every entry to MLflow (`resources.<stage>.<field>`).

The numbers differ on every run: the file is run history, not content. It is neither a DVC out
nor a dep of any stage and no DVC out quotes it, so dvc.lock stays byte-reproducible and the
pipeline never reruns for it. It is committed, like bench/results, to keep the full-data run's
numbers with the code that produced them.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import re
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pixelated.core import atomic
from pixelated.core.process import STOPPED_BY, lock_dir

RESOURCES = Path("reports/resources.json")  # relative to the repository root, every DVC stage's cwd
RESOURCES_ENV = "PE_RESOURCES"  # another file instead (tests)
RSS_BYTES = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
_IMPORTED = time.monotonic()
_NOTES: dict[str, int | float] = {}  # run-history counts a stage adds to its entry (`note`)
_COUNTED = {"peak_rss": 0, "cpu_s": 0.0}  # processes this one started that are not its children


def resources_path() -> Path:
    return Path(os.environ.get(RESOURCES_ENV) or RESOURCES)


def record_at_exit(stage: str, ledger: Path | None = None) -> None:
    """Measure this process as it exits and merge the entry under `stage` (`stages.dedup` is
    `dedup`, its dvc.yaml name); with the `ledger` the stage writes, also rows in, out and per s."""
    atexit.register(_record_if_ended_well, stage.rpartition(".")[2], ledger, os.getpid())


def note(**counts: int | float) -> None:
    """Add run-history counts to this stage's entry, such as the embedding cache's hits:
    numbers that differ between a first run and a rerun of the same data, so they must not be
    in a DVC out."""
    _NOTES.update(counts)


def count_process(peak_rss: int, cpu_s: float) -> None:
    """Count a finished process this one started but did not wait for, which RUSAGE_CHILDREN
    misses: a fork of the forkserver (`executor.in_fresh_process`). Peak RSS in bytes."""
    _COUNTED["peak_rss"] = max(_COUNTED["peak_rss"], peak_rss)
    _COUNTED["cpu_s"] += cpu_s


def _record_if_ended_well(stage: str, ledger: Path | None, pid: int) -> None:
    # a stage fails by raising (none calls sys.exit): an unhandled exception is in
    # `sys.last_value` before exit handlers run, a signal in STOPPED_BY; a forked worker
    # inherits the handler but is not the stage
    if os.getpid() == pid and getattr(sys, "last_value", None) is None and not STOPPED_BY:
        merge(stage, measure(ledger) | _NOTES)


def measure(ledger: Path | None = None) -> dict:
    """This process so far, with its finished children (process-pool workers; Ray's are not
    children) and the processes it counted (`count_process`): CPU is user + system time of
    all, peak RSS the largest single process's, in MiB."""
    own_peak, own_cpu = own_usage()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _seconds_since_start()
    peak = max(own_peak, children.ru_maxrss * RSS_BYTES, _COUNTED["peak_rss"])
    cpu = own_cpu + children.ru_utime + children.ru_stime + _COUNTED["cpu_s"]
    entry = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if ledger is not None:
        counts = json.loads(Path(ledger).read_text())
        rows_in, rows_out = counts["rows_in"], counts["rows_out"]
        entry |= {"rows_in": rows_in, "rows_out": rows_out, "rows_per_s": round(rows_in / wall, 1)}
    return entry


def _seconds_since_start() -> float:
    """Wall time since the process started, imports included (Linux /proc: both clocks count
    from boot); without /proc, since this module was imported."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except FileNotFoundError:
        return time.monotonic() - _IMPORTED
    return uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, in ticks


def own_usage() -> tuple[int, float]:
    """This process's own peak RSS in bytes and CPU seconds (user + system), children aside."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return own_peak_rss(), usage.ru_utime + usage.ru_stime


def own_peak_rss() -> int:
    """Bytes, from VmHWM on Linux: ru_maxrss also holds the peak of the process that spawned
    this one (dvc, pytest), which exec carries over. A child's ru_maxrss holds this process's
    peak at the time it was spawned, at most this process's own peak."""
    try:
        status = Path("/proc/self/status").read_text()
    except FileNotFoundError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_BYTES
    return int(re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE).group(1)) * 1024


def read(path: Path | None = None) -> dict[str, dict]:
    """Every stage's latest entry, by stage name; {} before any stage has run."""
    path = path or resources_path()
    return json.loads(path.read_text()) if path.exists() else {}


def merge(stage: str, entry: dict, path: Path | None = None) -> None:
    """Set `stage`'s entry. Under a lock: stages running side by side (`dvc repro -j`, queued
    experiments) each read and replace the whole file, and none may lose another's entry."""
    path = path or resources_path()
    with _locked(path):
        atomic.write_json(path, {**read(path), stage: entry})


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`, kept beside the stage locks: a lock on the file itself
    would not survive the atomic replace, and a lock file in reports/ would be one more to ignore."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(lock_dir() / f"resources-{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield
