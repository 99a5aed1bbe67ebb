"""What the examples share: the repository argument, running a command in it, and the paths
a stage writes, read from dvc.yaml (the one place paths are named)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import yaml


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the example's docstring, with the repository argument."""
    cli = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("repo", type=Path, nargs="?", default=Path("."), help="repository root (default: .)")
    return cli


def run(cmd: list[str], repo: Path, ok: tuple[int, ...] = (0,)) -> str:
    """Run a command in the repository, echoing it and its output; stop unless it exits in `ok`.
    `python` means this interpreter, so the example's environment runs the command too."""
    print(f"\n$ {shlex.join(cmd)}", flush=True)
    argv = [sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd
    result = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False)
    print((result.stdout + result.stderr).rstrip(), flush=True)
    if result.returncode not in ok:
        sys.exit(f"{cmd[0]} exited {result.returncode}")
    return result.stdout


def stage_path(repo: Path, stage: str, option: str) -> Path:
    """The path a stage's command passes after `option` in dvc.yaml, e.g. select's --review."""
    words = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"][stage]["cmd"].split()
    return repo / words[words.index(option) + 1]
