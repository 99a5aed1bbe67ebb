"""How `make test` spreads the tests over its 2 xdist workers (`-n 2 --dist loadfile`).

Work goes out file by file, in collection order, except the end-to-end files that share the
sample pipeline run (tests/e2e/conftest.py): they go in two lanes, each one work unit. The
first lane builds the run; meanwhile the other worker runs the tests outside tests/unit that
do not need it, then the second lane; the unit tests come last, for whichever worker is free.
xdist hands a worker its next unit when the current one is about to end, so a long file left
at the end of one queue used to run alone on one worker, and the other sat idle.
(`--dist loadgroup` cannot do this: pytest 9 ignores the group suffix xdist 3.8 writes.)
"""

from __future__ import annotations

from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

LANES = {  # file name -> lane; every file that uses the `sample_run` fixture belongs to one
    "test_examples.py": 1,
    "test_exp_run.py": 1,
    "test_pipeline.py": 1,
    "test_rerun.py": 1,
    "test_versioning.py": 2,
}


def _file(nodeid: str) -> str:
    return nodeid.split("::")[0]


def rank(nodeid: str) -> int:
    """Where a test's unit goes in the queue: lane 1, other tests outside tests/unit, lane 2,
    the unit tests."""
    lane = LANES.get(Path(_file(nodeid)).name)
    if lane is not None:
        return 0 if lane == 1 else 2
    return 3 if nodeid.startswith("tests/unit/") else 1


class LaneScheduling(LoadScopeScheduling):
    """loadfile's scheduling, with each lane's files as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        file = _file(nodeid)
        lane = LANES.get(Path(file).name)
        return f"sample-run-lane-{lane}" if lane else file
