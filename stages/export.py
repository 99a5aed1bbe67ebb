"""export: write the curated splits as JSONL, Parquet, CSV, Hugging Face, OpenAI chat and TFRecord."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.export import export


def main() -> None:
    paths, params = stage_args(__doc__, export.ExportPaths)
    export.run(load_config(export.ExportStageConfig, params), paths)


if __name__ == "__main__":
    main()
