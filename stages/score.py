"""score: measure every conversation (six sub-metrics, overall quality, safety, crisis flags)
and how far the scores agree with human judgement. Deciding what to keep is `select`'s job."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.scoring import score


def main() -> None:
    paths, params = stage_args(__doc__, score.ScorePaths)
    score.run(load_config(score.ScoreConfig, params), paths)


if __name__ == "__main__":
    main()
