"""ingest: read every source in data/raw into the canonical conversation table."""

from pixelated.core.config import load_config
from pixelated.core.runner import TablePaths, stage_args
from pixelated.ingest import ingest


def main() -> None:
    paths, params = stage_args(__doc__, TablePaths)
    ingest.run(load_config(ingest.IngestStageConfig, params), paths)


if __name__ == "__main__":
    main()
