"""run_batches for a stage that only routes rows (split): no quarantine, so no drops."""

import pytest

from pixelated.core.config import ExecutorConfig
from pixelated.core.ledger import LedgerError, Rejection
from pixelated.core.runner import BatchResult, Output, run_batches
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.validation import canonical_schema
from tests.conftest import canonical_row, frame


def _outputs(tmp_path):
    check = canonical_schema(1000)
    return {
        name: Output(tmp_path / f"{name}.parquet", CONVERSATION_SCHEMA, check) for name in ("odd", "even")
    }


def test_routing_without_quarantine_balances(tmp_path):
    batch = frame([canonical_row(i) for i in range(1, 6)])
    parity = batch["source_line"] % 2

    def route(rows):
        return BatchResult(rows["source"], {"odd": rows[parity == 1], "even": rows[parity == 0]})

    ledger = run_batches(
        "route",
        route,
        [batch],
        outputs=_outputs(tmp_path),
        quarantine=None,
        ledger=tmp_path / "ledger.json",
        executor=ExecutorConfig(),
    )
    assert (ledger.rows_in, ledger.rows_out) == (5, 5)
    assert not (tmp_path / "quarantine.parquet").exists()


def test_a_rejection_without_quarantine_is_an_error(tmp_path):
    batch = frame([canonical_row(1)])
    dropped = Rejection("lost", "a routing stage may not drop", conversation_id="x")
    with pytest.raises(LedgerError, match="drops no rows"):
        run_batches(
            "route",
            lambda rows: BatchResult(rows["source"], {"odd": rows.iloc[:0]}, [dropped]),
            [batch],
            outputs=_outputs(tmp_path),
            quarantine=None,
            ledger=tmp_path / "ledger.json",
            executor=ExecutorConfig(),
        )
    assert not (tmp_path / "ledger.json").exists()
