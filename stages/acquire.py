"""acquire: copy (or download) every configured source into data/raw, sha256-checked."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.ingest import acquire


def main() -> None:
    paths, params = stage_args(__doc__, acquire.AcquirePaths)
    acquire.run(load_config(acquire.AcquireStageConfig, params), paths)


if __name__ == "__main__":
    main()
