"""split: group-aware 70/15/15 splits stratified by source and quality tier, plus CV folds."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.selection import split


def main() -> None:
    paths, params = stage_args(__doc__, split.SplitPaths)
    split.run(load_config(split.SplitStageConfig, params), paths)


if __name__ == "__main__":
    main()
