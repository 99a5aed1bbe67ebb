"""Issue 14, item 5: a stage run through `stage_args` leaves its wall time, CPU time, peak RSS
and rows/s in reports/resources.json, only when it ends well, and stages writing side by side
never lose each other's entries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pixelated.core import resources
from tests.paths import REPO

# A stage with a ledger whose child (a process-pool worker, say) holds 200 MiB and burns 0.3 s
# of CPU: the stage itself holds less, so the entry shows the children are counted.
STAGE = """
import subprocess, sys
from dataclasses import dataclass
from pathlib import Path
from pixelated.core.ledger import Ledger
from pixelated.core.runner import stage_args

@dataclass(frozen=True)
class Paths:
    output: Path
    ledger: Path

paths, _ = stage_args("a stage", Paths)
ledger = Ledger("demo")
ledger.count_in(30)
ledger.count_out(28)
ledger.count_drop("short", 2)
ledger.write(paths.ledger)
child = "import time; b = b'x' * (200 * 2**20); t = time.process_time()\\n"
child += "while time.process_time() - t < 0.3: pass"
subprocess.run([sys.executable, "-c", child], check=True)
"""

# A stage whose work runs in a fresh process (`executor.in_fresh_process`): a fork of the
# forkserver, not the stage's child, holding 300 MiB and burning 0.3 s of CPU
FRESH_STAGE = """
from pixelated.core import resources
from pixelated.core.executor import in_fresh_process
from work import hold_and_burn

if __name__ == "__main__":
    resources.record_at_exit("stages.demo")
    in_fresh_process(hold_and_burn)
"""
WORK = """
import time

def hold_and_burn():
    held, started = b"x" * (300 * 2**20), time.process_time()
    while time.process_time() - started < 0.3:
        pass
"""

# A stage that fails (`raise`) or is stopped (`wait`: SIGTERM once it says so) after it has
# registered the recorder and noted a count; `ok` ends well. Without the runner's imports, to
# stay fast.
ENDING = """
import sys, time
from pixelated.core import process, resources
process.exit_on_signals()
resources.record_at_exit("stages.demo")
resources.note(embedded=3)
if sys.argv[1] == "raise":
    raise RuntimeError("failed")
if sys.argv[1] == "wait":
    print("waiting", flush=True)
    time.sleep(60)
"""


def _env(tmp_path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
        "PE_LOCK_DIR": str(tmp_path / "locks"),
    }
    env.pop(resources.RESOURCES_ENV, None)  # the default path, under the stage's cwd
    return env


# What starts the stage (dvc) holds 400 MiB: none of it is the stage's
LAUNCHER = "import subprocess, sys; held = b'x' * (400 * 2**20); subprocess.run(sys.argv[1:], check=True)"


def test_a_stage_records_time_memory_and_rows_with_its_children(tmp_path):
    (tmp_path / "demo.py").write_text(STAGE)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "demo.py", "--output", "o", "--ledger", "l.json"],
        cwd=tmp_path,
        env=_env(tmp_path),
        check=True,
    )
    elapsed = time.monotonic() - started
    entries = json.loads((tmp_path / resources.RESOURCES).read_text())
    assert list(entries) == ["demo"]  # the script's name, as a stage's dvc.yaml name
    entry = entries["demo"]
    assert sorted(entry) == [
        "cpu_s",
        "finished",
        "peak_rss_mb",
        "rows_in",
        "rows_out",
        "rows_per_s",
        "wall_s",
    ]
    assert (entry["rows_in"], entry["rows_out"]) == (30, 28)
    assert entry["rows_per_s"] == round(30 / entry["wall_s"], 1)
    # CPU counts the child's 0.3 s; wall time counts from process start, imports included (the
    # libraries' thread pools can spend more CPU than wall time, never more than every core's)
    assert 0.3 <= entry["cpu_s"] <= entry["wall_s"] * os.cpu_count() and entry["wall_s"] <= elapsed
    assert 200 <= entry["peak_rss_mb"] < 300  # the child's peak: not the sum, not the launcher's


def test_only_a_stage_that_ends_well_is_recorded(tmp_path):
    (tmp_path / "ending.py").write_text(ENDING)
    env = _env(tmp_path)
    failed = subprocess.run(
        [sys.executable, "ending.py", "raise"], cwd=tmp_path, env=env, capture_output=True
    )
    assert failed.returncode == 1
    waiting = subprocess.Popen(
        [sys.executable, "ending.py", "wait"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    assert waiting.stdout.readline().strip() == "waiting"
    waiting.send_signal(signal.SIGTERM)
    assert waiting.wait(timeout=30) != 0
    assert not (tmp_path / resources.RESOURCES).exists()
    subprocess.run([sys.executable, "ending.py", "ok"], cwd=tmp_path, env=env, check=True)
    entries = resources.read(tmp_path / resources.RESOURCES)
    assert list(entries) == ["demo"] and entries["demo"]["embedded"] == 3


def _merge_many(path: str, worker: int) -> None:
    for i in range(10):
        resources.merge(f"stage{worker}_{i}", {"wall_s": float(i)}, Path(path))


def test_stages_merging_side_by_side_lose_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("PE_LOCK_DIR", str(tmp_path / "locks"))
    path = tmp_path / "resources.json"
    resources.merge("earlier", {"wall_s": 1.0}, path)
    with ProcessPoolExecutor(max_workers=4) as pool:
        list(pool.map(_merge_many, [str(path)] * 4, range(4)))
    entries = resources.read(path)
    assert len(entries) == 1 + 4 * 10 and entries["earlier"] == {"wall_s": 1.0}
    assert path.read_text() == json.dumps(entries, indent=2, sort_keys=True) + "\n"


def test_a_fresh_process_counts_in_its_stage_entry(tmp_path):
    """RUSAGE_CHILDREN misses a forkserver's fork: the stage counts it itself."""
    (tmp_path / "demo.py").write_text(FRESH_STAGE)
    (tmp_path / "work.py").write_text(WORK)
    subprocess.run([sys.executable, "demo.py"], cwd=tmp_path, env=_env(tmp_path), check=True)
    entry = json.loads((tmp_path / resources.RESOURCES).read_text())["demo"]
    assert entry["cpu_s"] >= 0.3
    assert 300 <= entry["peak_rss_mb"] < 500  # the fresh process's peak, above the stage's own
