"""The canonical schema check of a batch: rows that fail go to quarantine with the rule they broke.

A module-level function, so the executor can ship it to worker processes or Ray.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import pandera.pandas as pa

from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.rules import turn_rules
from pixelated.core.schema import conversation_schema


@lru_cache(maxsize=4)
def canonical_schema(max_turn_chars: int) -> pa.DataFrameSchema:
    """The strict canonical schema; cached because building checks per batch is wasteful."""
    return conversation_schema(turn_rules(max_turn_chars))


def validate_batch(batch: pd.DataFrame, max_turn_chars: int) -> tuple[pd.DataFrame, list[Rejection]]:
    """Keep the rows that pass the canonical pandera schema; quarantine the rest.

    pandera's failure cases say which rows failed which check; a row that fails several
    is reported once, under the first rule in `turn_rules` order (structure checks last).
    A failure not tied to a row (a missing column, a wrong dtype) means the input is not
    an ingest output at all, and is raised.
    """
    schema = canonical_schema(max_turn_chars)
    try:
        schema.validate(batch, lazy=True)
        return batch, []
    except pa.errors.SchemaErrors as err:
        errors = err  # `err` is unbound once the except block ends
    failures = errors.failure_cases
    if failures["index"].isna().any():
        raise errors
    rules = turn_rules(max_turn_chars)
    priority = {name: rank for rank, name in enumerate(rules)}
    worst: dict[int, tuple[int, str, str]] = {}
    for failure in failures.itertuples(index=False):
        index = int(failure.index)
        if failure.check in rules:
            reason = failure.check
            detail = rules[reason](batch.at[index, "turns"])
        elif failure.schema_context == "DataFrameSchema":
            # a row-wise check over several columns: pandera lists one failure per column
            reason = failure.check
            detail = f"row failed {failure.check}"
        else:
            reason = f"invalid_{failure.column}"
            detail = f"{failure.column} failed {failure.check}: {str(failure.failure_case)[:200]}"
        candidate = (priority.get(reason, len(priority)), reason, detail)
        worst[index] = min(worst.get(index, candidate), candidate)
    rejections = [
        row_rejection(batch.loc[i], reason, detail) for i, (_, reason, detail) in sorted(worst.items())
    ]
    return batch.drop(index=list(worst)).reset_index(drop=True), rejections
