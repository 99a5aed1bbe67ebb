"""select: keep conversations that pass the safety gate, the clinical-accuracy gate and the
chosen quality tier (reviewer verdicts override); export the clinician review set and the
bias report. (The package module is pixelated.selection.select; run as `python -m
stages.select`, so this file never shadows the standard library's `select` module.)"""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.selection import select


def main() -> None:
    paths, params = stage_args(__doc__, select.SelectPaths)
    select.run(load_config(select.SelectConfig, params), paths)


if __name__ == "__main__":
    main()
