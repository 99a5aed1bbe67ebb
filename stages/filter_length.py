"""filter_length: keep conversations with filter_length.min_turns..max_turns turns."""

from pixelated.core.config import load_config
from pixelated.core.runner import TablePaths, stage_args
from pixelated.selection import filter_length


def main() -> None:
    paths, params = stage_args(__doc__, TablePaths)
    filter_length.run(load_config(filter_length.FilterLengthConfig, params), paths)


if __name__ == "__main__":
    main()
