"""acquire: copy (or download) every configured source into data/raw, sha256-checked."""

import argparse
from pathlib import Path

from pixelated.core.runner import load_params, setup_logging
from pixelated.ingest.acquire import acquire_all, resolve_mirror


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    acquire_all(params["sources"], resolve_mirror(params["acquire"]["mirror"]), args.output)


if __name__ == "__main__":
    main()
