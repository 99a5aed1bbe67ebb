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
    """Run a command in the repository, echoing it and its output as it comes; stop unless it
    exits in `ok`; its output. `python` means this interpreter, so the same environment runs it."""
    print(f"\n$ {shlex.join(cmd)}", flush=True)
    argv = [sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd
    lines = []
    with subprocess.Popen(
        argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    if proc.returncode not in ok:
        sys.exit(f"{shlex.join(cmd)} exited {proc.returncode}")
    return "".join(lines)


def stage_path(repo: Path, stage: str, option: str) -> Path:
    """The path a stage's command passes after `option` in dvc.yaml, e.g. select's --review."""
    words = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"][stage]["cmd"].split()
    return repo / words[words.index(option) + 1]
