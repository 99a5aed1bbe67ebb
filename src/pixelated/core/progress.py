"""Progress you can see: a bar with rows/s and an ETA, and one INFO log line per batch.

The bar is for a person watching a terminal; the log lines are for a run's log (dvc repro
output, CI), where a redrawn bar is unreadable. Both carry counts only, never text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

log = logging.getLogger("pixelated.progress")
T = TypeVar("T")


class Progress:
    """A tqdm bar over rows that logs a line every `log_every` batches (and at the end)."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "rows", log_every: int = 1):
        self.desc, self.total, self.unit, self.log_every = desc, total, unit, log_every
        self.bar = tqdm(total=total, desc=desc, unit=unit, mininterval=2.0, dynamic_ncols=True)
        self.batches = self.done = 0
        self.started = time.perf_counter()

    def update(self, rows: int) -> None:
        self.bar.update(rows)
        self.batches += 1
        self.done += rows
        if self.batches % self.log_every == 0 or self.done == self.total:
            self._log()

    def _log(self) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        log.info(
            "%s: batch %d, %d%s %s (%.1f %s/s)",
            self.desc, self.batches, self.done, of, self.unit, self.done / elapsed, self.unit,
        )  # fmt: skip

    def close(self) -> None:
        if self.batches % self.log_every and self.done != self.total:
            self._log()
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    unit: str = "rows",
    size: Callable[[T], int] = len,
) -> Iterator[T]:
    """Yield `items` (batches), counting `size(item)` rows each on a `Progress` bar."""
    with Progress(desc, total, unit) as bar:
        for item in items:
            yield item
            bar.update(size(item))
