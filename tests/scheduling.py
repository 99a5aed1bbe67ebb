"""How `make test` spreads the tests over its 3 xdist workers (`-n 3 --dist loadfile`).

Three on two cores: many tests wait (on subprocesses, signals, a remote, the sample run's
lock), and a third worker fills those gaps (a clean run here: 721 s with two, 661 s with three,
at 164% CPU).

Work goes out file by file, in queue order. The files that share the sample pipeline run
(tests/e2e/conftest.py) are queued so that no worker idles: the first unit builds the run,
while the other workers run the tests outside tests/unit that do not need it; then come the
other users of the run, longest first, and the unit tests last, for whichever worker is free.
xdist hands a worker its next unit when the current one is about to end, so a long file left
at the end of the queue would run alone on one worker while the others sat idle.
(`--dist loadgroup` cannot group files: pytest 9 ignores the group suffix xdist 3.8 writes.)
"""

from __future__ import annotations

from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

BUILDS = ("test_examples.py", "test_pipeline.py", "test_rerun.py")  # one unit, queued first
THEN = (
    "test_versioning.py",
    "test_resume.py",
    "test_exp_run.py",
)  # the other users, after the other e2e tests
SAMPLE_RUN_USERS = {*BUILDS, *THEN}  # every file that uses the `sample_run` fixture


def _name(nodeid: str) -> str:
    return Path(nodeid.split("::")[0]).name


def rank(nodeid: str) -> int:
    """A test's place in the queue: the build unit, the tests outside tests/unit, the other
    users of the sample run in order, the unit tests."""
    name = _name(nodeid)
    if name in BUILDS:
        return 0
    if name in THEN:
        return 2 + THEN.index(name)
    return 2 + len(THEN) if nodeid.startswith("tests/unit/") else 1


class SampleRunScheduling(LoadScopeScheduling):
    """loadfile's scheduling, with the build files as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return "sample-run-build" if _name(nodeid) in BUILDS else nodeid.split("::")[0]
