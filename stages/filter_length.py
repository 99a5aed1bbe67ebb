"""filter_length: keep conversations with filter.min_turns..filter.max_turns turns."""

from functools import partial

from pixelated.filters import canonical_schema, length_filter
from pixelated.schema import CONVERSATION_SCHEMA
from pixelated.stage import load_params, run_batch_filter, setup_logging, stage_args


def main() -> None:
    args = stage_args(__doc__)
    params = load_params(args.params)
    setup_logging(params)
    run_batch_filter(
        "filter_length",
        partial(
            length_filter, min_turns=params["filter"]["min_turns"], max_turns=params["filter"]["max_turns"]
        ),
        input_path=args.input,
        output_path=args.output,
        quarantine_path=args.quarantine,
        ledger_path=args.ledger,
        arrow_schema=CONVERSATION_SCHEMA,
        output_check=canonical_schema(int(params["validate"]["max_turn_chars"])),
        executor=params["executor"],
    )


if __name__ == "__main__":
    main()
