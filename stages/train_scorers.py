"""train_scorers: fit the empathy heads (EPITOME) and the behaviour-code classifier (every
labelled source) that `score` reads, and write their cross-validated figures."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.scoring import train_scorers


def main() -> None:
    paths, params = stage_args(__doc__, train_scorers.TrainScorersPaths)
    train_scorers.run(load_config(train_scorers.TrainScorersConfig, params), paths)


if __name__ == "__main__":
    main()
