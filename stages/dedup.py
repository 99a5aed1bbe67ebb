"""dedup: remove exact, near (MinHash LSH) and semantic (MiniLM) duplicate conversations."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.dedup import dedup


def main() -> None:
    paths, params = stage_args(__doc__, dedup.DedupPaths)
    dedup.run(load_config(dedup.DedupStageConfig, params), paths)


if __name__ == "__main__":
    main()
