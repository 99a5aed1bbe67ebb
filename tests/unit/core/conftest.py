"""Helpers for tests that need a real process: one to kill, or one whose parent dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.paths import REPO


@pytest.fixture
def spawn(tmp_path):
    """spawn(code) -> a running `python -c code` with the repo's src/ first on the path and
    locks in tmp_path; its first stdout line is read (the script prints once it is ready)."""
    started: list[subprocess.Popen] = []

    def start(code: str) -> tuple[subprocess.Popen, str]:
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "PE_LOCK_DIR": str(tmp_path)}
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc, proc.stdout.readline().strip()

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
