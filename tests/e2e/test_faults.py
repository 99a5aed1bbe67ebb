"""Issue 17, item 13: fault injection on a sample pipeline clone.

A stage is killed with SIGKILL at a random point of its run, and `dvc repro` is stopped with
SIGTERM at another; then `dvc repro` runs again. The outputs must be byte-identical to a clean
run's, no temporary may be left, and there must never be two stage processes at once. The
random points come from PE_FAULT_SEED (a fresh seed each run; failures print it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import SAMPLE, make_clone, run_ok
from tests.paths import SHARED_DATA

TARGET = "validate"  # acquire -> ingest -> validate: the cheap head of the pipeline
STAGES = ("acquire", "ingest", "validate")
GRACE = 0.5  # seconds a stopping stage may take to finish a rename already under way
CONFIRM = 0.3  # seconds after which a crowd of stage processes is looked at again


def stage_processes(root: Path) -> dict[int, str]:
    """pid -> stage of every `python -m stages.<name>` running in `root`, not counting the
    pool workers a stage forks (their parent is a stage process too)."""
    found: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"-m" not in args or Path(os.readlink(entry / "cwd")) != root:
                continue
            module = args[args.index(b"-m") + 1].decode()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
        if module.startswith("stages."):
            found[int(entry.name)] = (module.removeprefix("stages."), parent)
    return {pid: name for pid, (name, parent) in found.items() if parent not in found}


class StageWatch(threading.Thread):
    """Polls the stage processes of a clone; records when each was seen and the most at once."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[int, list] = {}  # pid -> [stage, first seen, last seen]
        self.most_at_once = 0
        self.crowds: list[dict[int, str]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            now, running = time.monotonic(), stage_processes(self.root)
            if len(running) > 1:
                running = self._confirmed(running)
                self.crowds += [running] if len(running) > 1 else []
            self.most_at_once = max(self.most_at_once, len(running))
            for pid, stage in running.items():
                self.seen.setdefault(pid, [stage, now, now])[2] = now
            time.sleep(0.02)

    def _confirmed(self, running: dict[int, str]) -> dict[int, str]:
        """The processes of a crowd still counted as stages a moment later. One /proc scan is not
        atomic: a stage SIGKILLed mid-scan leaves its pool worker orphaned, hence counted, until
        the worker's parent-death signal ends it; two real stages at once both stay."""
        time.sleep(CONFIRM)
        again = stage_processes(self.root)
        return {pid: stage for pid, stage in running.items() if pid in again}

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def durations(self) -> dict[str, float]:
        return {stage: last - first for stage, first, last in self.seen.values()}

    def wait_for(self, stage: str, since: float, timeout: float = 120) -> int | None:
        """The pid of `stage` first seen after `since`; None if it did not start in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid, (name, first, _) in list(self.seen.items()):
                if name == stage and first >= since:
                    return pid
            time.sleep(0.01)
        return None


def lock_md5s(root: Path) -> dict[str, str]:
    """Every output (and metric) path of the stages under test -> its md5 in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in STAGES for out in lock[stage]["outs"]}


def gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.02)
    return False


def interrupted_repro(root, env, watch, fault: str, stage: str, delay: float, log: Path) -> None:
    """`dvc repro --force` until `stage` has run `delay` seconds, then the fault: `sigkill`
    kills the stage, `sigterm` stops dvc itself. Once dvc has exited, the stage must end
    without writing anything more (an orphan used to finish its run and write its outputs)."""
    started = time.monotonic()
    with open(log, "a") as out:
        dvc = subprocess.Popen(["dvc", "repro", "--force", TARGET], cwd=root, env=env, stdout=out, stderr=out)
        pid = watch.wait_for(stage, since=started)
        assert pid is not None, f"{stage} never started; see {log}"
        time.sleep(delay)
        if fault == "sigkill":
            # a stage that already finished is a fault injected too late, not an error
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:
            dvc.send_signal(signal.SIGTERM)
        dvc.wait(timeout=300)
    dvc_gone = time.time()
    assert gone(pid, 30), f"{stage} (pid {pid}) still runs 30 s after {fault}; see {log}"
    late = written_since(root, dvc_gone + GRACE)
    assert late == [], f"{stage} wrote {late} after dvc exited ({fault} {delay} s into it)"


def written_since(root: Path, since: float) -> list[str]:
    """The outputs (data/, reports/) modified after `since` (a time.time())."""
    files = [p for folder in ("data", "reports") for p in (root / folder).rglob("*") if p.is_file()]
    return sorted(str(p.relative_to(root)) for p in files if p.stat().st_mtime > since)


def plan(rng: random.Random, durations: dict[str, float]) -> list[tuple[str, str, float]]:
    """(fault, stage, seconds into the stage's run) for a SIGKILL of a stage and a SIGTERM to dvc;
    the point is drawn within the stage's clean-run duration, so the fault lands mid-work."""
    stages = [rng.choice(STAGES) for _ in range(2)]
    return [
        (fault, stage, round(rng.uniform(0, 0.9 * durations[stage]), 2))
        for fault, stage in zip(("sigkill", "sigterm"), stages, strict=True)
    ]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A clean sample run: its dvc.lock md5s and how long each stage ran."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data mirror not found at {SHARED_DATA}")
    root, env = make_clone(tmp_path_factory.mktemp("clean") / "repo", SAMPLE)
    watch = StageWatch(root.resolve())
    watch.start()
    try:
        run_ok(["dvc", "repro", TARGET], root, env)
    finally:
        watch.stop()
    return lock_md5s(root), watch.durations()


def test_killed_stages_and_interrupted_repro_recover_byte_identical(clean_run, tmp_path):
    """Item 13 (and item 7 end to end): before the fix, the stage outlived a SIGTERM to dvc,
    and the rerun ran beside it: two copies writing the same outputs."""
    clean_md5s, durations = clean_run
    seed = int(os.environ.get("PE_FAULT_SEED", random.randrange(2**32)))
    faults = plan(random.Random(seed), durations)
    context = f"PE_FAULT_SEED={seed}, faults {faults}; dvc output in {tmp_path / 'dvc.log'}"
    print(context)
    root, env = make_clone(tmp_path / "repo", SAMPLE)
    root = root.resolve()
    # as in CI: SHELL unset, so dvc runs each stage through dash, which does not exec it
    env = {name: value for name, value in env.items() if name != "SHELL"}
    log = tmp_path / "dvc.log"
    watch = StageWatch(root)
    watch.start()
    try:
        for fault, stage, delay in faults:
            interrupted_repro(root, env, watch, fault, stage, delay, log)
        run_ok(["dvc", "repro", TARGET], root, env)
    finally:
        watch.stop()
    assert watch.most_at_once == 1, f"two stage processes at once: {watch.crowds[:3]} ({context})"
    assert lock_md5s(root) == clean_md5s, context
    for path, md5 in clean_md5s.items():
        if not md5.endswith(".dir"):
            assert hashlib.md5((root / path).read_bytes()).hexdigest() == md5, f"{path} ({context})"
    leftovers = [p for folder in ("data", "reports") for p in (root / folder).rglob("*.tmp-*")]
    assert leftovers == [], context
