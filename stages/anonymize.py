"""anonymize: replace PII in every free-text field with consistent pseudonyms (Presidio + spaCy).

Reads data/raw/validated.parquet (the last raw table); everything downstream sees only this
stage's output. Drops rows without consent when privacy.require_consent is true.
"""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.privacy import anonymize


def main() -> None:
    paths, params = stage_args(__doc__, anonymize.AnonymizePaths)
    anonymize.run(load_config(anonymize.AnonymizeConfig, params), paths)


if __name__ == "__main__":
    main()
