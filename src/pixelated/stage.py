"""What every stage script shares: params, logging, progress bars and the batch-filter loop.

Stage scripts read `params.yaml` (never Hydra directly: `dvc exp run -S` writes overrides
there, see dvc #10186) and take their input and output paths as arguments, so `dvc.yaml`
is the one place that says what each stage reads and writes.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import yaml
from tqdm import tqdm

from pixelated.executor import map_batches
from pixelated.ledger import Ledger, Rejection
from pixelated.tableio import QuarantineWriter, ValidatedWriter, count_rows, read_batches

log = logging.getLogger("pixelated")

BatchFilter = Callable[[pd.DataFrame], tuple[pd.DataFrame, list[Rejection]]]


def load_params(path: str | Path = "params.yaml") -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def setup_logging(params: dict) -> None:
    """Log level from config; conversation text is never logged at INFO by any stage."""
    level = params.get("logging", {}).get("level", "INFO")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def progress(iterable: Iterable, desc: str, total: int | None = None, unit: str = "rows"):
    return tqdm(iterable, desc=desc, total=total, unit=unit, mininterval=2.0, dynamic_ncols=True)


def stage_args(description: str, *extra: str) -> argparse.Namespace:
    """The standard stage arguments: --input, --output, --quarantine, --ledger, plus extras."""
    parser = argparse.ArgumentParser(description=description)
    for name in ("input", "output", "quarantine", "ledger", *extra):
        parser.add_argument(f"--{name}", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    return parser.parse_args()


def run_batch_filter(
    stage: str,
    batch_filter: BatchFilter,
    *,
    input_path: Path,
    output_path: Path,
    quarantine_path: Path,
    ledger_path: Path,
    arrow_schema: pa_arrow.Schema,
    output_check: pa.DataFrameSchema,
    executor: dict,
) -> Ledger:
    """Stream `input_path` through `batch_filter` into `output_path`, accounting every row.

    `batch_filter` returns the kept rows and a rejection per dropped row; the executor from
    config (`executor.kind`, `.workers`, `.batch_size`) maps it over batches. The ledger is
    checked before it is written.
    """
    ledger = Ledger(stage)
    total = count_rows(input_path)
    results = map_batches(
        partial(_filter_with_input, batch_filter),
        read_batches(input_path, int(executor.get("batch_size", 2000))),
        kind=executor.get("kind", "local"),
        workers=int(executor.get("workers", 2)),
    )
    with (
        ValidatedWriter(output_path, arrow_schema, output_check) as writer,
        QuarantineWriter(quarantine_path, stage) as quarantine,
        tqdm(total=total, desc=stage, unit="conv", mininterval=2.0) as bar,
    ):
        for batch, kept, rejections in results:
            ledger.count_frame_in(batch)
            ledger.count_frame_out(kept)
            for rejection in rejections:
                ledger.count_drop(rejection.reason, source=rejection.source)
            writer.write(kept)
            quarantine.add(rejections)
            bar.update(len(batch))
    ledger.write(ledger_path)
    return ledger


def _filter_with_input(batch_filter: BatchFilter, batch: pd.DataFrame):
    """Run the filter and hand back the input's sources too, for the ledger."""
    kept, rejections = batch_filter(batch)
    return batch[["source"]], kept, rejections
