"""ingest: read every source in data/raw into the canonical conversation table."""

from pixelated.core.runner import load_params, setup_logging, stage_args
from pixelated.ingest.ingest import run_ingest


def main() -> None:
    args = stage_args(__doc__)
    params = load_params(args.params)
    setup_logging(params)
    ingest_cfg = {**params["ingest"], "batch_size": params["executor"]["batch_size"]}
    run_ingest(args.input, params["sources"], ingest_cfg, args.output, args.quarantine, args.ledger)


if __name__ == "__main__":
    main()
