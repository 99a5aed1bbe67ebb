"""train: fine-tune MiniLM as a response selector on the train split, early-stopped on
validation."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.modeling import train


def main() -> None:
    paths, params = stage_args(__doc__, train.TrainPaths)
    train.run(load_config(train.TrainStageConfig, params), paths)


if __name__ == "__main__":
    main()
