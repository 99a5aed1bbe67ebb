"""Compose the Hydra config in conf/ into params.yaml, exactly as `dvc exp run` does.

`dvc repro` reads params.yaml as it is (dvc only composes on `exp run`), so run this after
editing conf/: `python -m pixelated.core.params [override ...]`, e.g. `filter.max_turns=40`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dvc.utils.hydra import compose_and_dump

CONFIG_DIR = "conf"
CONFIG_NAME = "config"


def compose(output: str | Path = "params.yaml", overrides: list[str] = (), root: str | Path = ".") -> Path:
    root = Path(root).resolve()
    output = root / output
    compose_and_dump(output, str(root / CONFIG_DIR), None, CONFIG_NAME, str(root), list(overrides))
    return output


if __name__ == "__main__":
    print(compose(overrides=sys.argv[1:]))
