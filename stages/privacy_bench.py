"""privacy_bench: plant generated PII into real turns, score the anonymizer's detector.

Writes recall/precision per entity type and the over-redaction count to reports/privacy.json
(a DVC metric). Reads data/raw/validated.parquet only for carrier turns; no text is written.
"""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.privacy import privacy_bench


def main() -> None:
    paths, params = stage_args(__doc__, privacy_bench.BenchPaths)
    privacy_bench.run(load_config(privacy_bench.PrivacyBenchConfig, params), paths)


if __name__ == "__main__":
    main()
