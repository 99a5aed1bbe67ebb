"""validate: keep conversations that pass the canonical pandera schema; quarantine the rest."""

from functools import partial

from pixelated.filters import canonical_schema, validate_batch
from pixelated.schema import CONVERSATION_SCHEMA
from pixelated.stage import load_params, run_batch_filter, setup_logging, stage_args


def main() -> None:
    args = stage_args(__doc__)
    params = load_params(args.params)
    setup_logging(params)
    max_chars = int(params["validate"]["max_turn_chars"])
    run_batch_filter(
        "validate",
        partial(validate_batch, max_turn_chars=max_chars),
        input_path=args.input,
        output_path=args.output,
        quarantine_path=args.quarantine,
        ledger_path=args.ledger,
        arrow_schema=CONVERSATION_SCHEMA,
        output_check=canonical_schema(max_chars),
        executor=params["executor"],
    )


if __name__ == "__main__":
    main()
