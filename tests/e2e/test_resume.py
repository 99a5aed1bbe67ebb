"""Issue 14, item 2: a stage killed with SIGKILL mid-run, then rerun by `dvc repro`, redoes only
the shards it had not finished; its outputs are byte-identical to a clean run's and its
ledger is exact.

anonymize on a copy of the sample run, started over without its span cache (so that each of
its shards takes a while): killed once the first shard is marked done, then run again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import yaml

from pixelated.core.shards import markers_of, parts
from tests.e2e.conftest import copy_run, run_ok
from tests.e2e.test_faults import StageWatch

STAGE = "anonymize"
OUTPUT = "data/interim/anonymized.parquet"
STARTED_OVER = (
    OUTPUT,
    f"{OUTPUT}.markers",
    "data/quarantine/anonymize.parquet",
    "data/cache/anonymize_spans.parquet",
)


def stage_outs(root) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"][STAGE]
    return {out["path"]: out["md5"] for out in lock["outs"]}


def test_a_killed_stage_redoes_only_its_unfinished_shards(sample_run, tmp_path):
    root, env = copy_run(sample_run, tmp_path)
    root = root.resolve()
    clean, ledger = stage_outs(root), (root / "reports/ledger/anonymize.json").read_text()
    shards = len(parts(root / "data/raw/validated.parquet"))
    assert shards > 1, "the sample run must have several shards"
    for path in map(root.joinpath, STARTED_OVER):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    markers = markers_of(root / OUTPUT)

    watch = StageWatch(root)
    watch.start()
    try:
        with open(tmp_path / "killed.log", "w") as log:
            dvc = subprocess.Popen(["dvc", "repro", "-s", STAGE], cwd=root, env=env, stdout=log, stderr=log)
            pid = watch.wait_for(STAGE, since=0)
            deadline = time.monotonic() + 300
            while not list(markers.glob("*.json")) and time.monotonic() < deadline and dvc.poll() is None:
                time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            assert dvc.wait(timeout=60) != 0
    finally:
        watch.stop()
    done = {marker.name: marker.stat().st_mtime_ns for marker in markers.glob("*.json")}
    assert 0 < len(done) < shards, f"killed after {len(done)} of {shards} shards"

    rerun = run_ok(["dvc", "repro", "-s", STAGE], root, env)
    kept = {f"part-{int(n):05d}.parquet.json" for n in _shard_numbers(rerun, "was done by an earlier run")}
    assert kept == set(done)  # every finished shard kept, and no other
    assert len(_shard_numbers(rerun, "written")) == shards - len(done)
    assert {name: markers.joinpath(name).stat().st_mtime_ns for name in done} == done
    assert stage_outs(root) == clean
    assert (root / "reports/ledger/anonymize.json").read_text() == ledger
    assert (
        json.loads(ledger)["rows_in"] == json.loads(ledger)["rows_out"] + json.loads(ledger)["rows_dropped"]
    )


def _shard_numbers(output: str, what: str) -> list[str]:
    """The shard numbers of the stage's `<stage>: shard <n> <what>` log lines."""
    prefix = f"{STAGE}: shard "
    return [
        line.split(prefix, 1)[1].split()[0] for line in output.splitlines() if prefix in line and what in line
    ]
