"""validate: keep conversations that pass the canonical pandera schema; quarantine the rest."""

from pixelated.core.config import load_config
from pixelated.core.runner import TablePaths, stage_args
from pixelated.ingest import validate


def main() -> None:
    paths, params = stage_args(__doc__, TablePaths)
    validate.run(load_config(validate.ValidateStageConfig, params), paths)


if __name__ == "__main__":
    main()
