"""Bounded samples of a stream: what a stage keeps of a table it cannot hold whole.

`BottomK` keeps the items of smallest rank (a hash of their key) whose weights fit a budget.
The sample is a pure function of the items, not of the order they come in, so a rerun, a
different shard layout or another executor draws the same one.
"""

from __future__ import annotations

import heapq
from typing import Any


class BottomK:
    """The longest run of items, in rank order, whose weights sum to at most `limit`, held in
    memory as the stream goes by (at most `limit` weight, plus the item just offered).

    Once an item is dropped for want of room, no item of its rank or above is taken again:
    without that rule, a small item arriving late could fill the room a larger, lower-ranked
    one left, and the sample would depend on arrival order."""

    def __init__(self, limit: int):
        self.limit = limit
        self._held: list[tuple[int, int, int, Any]] = []  # (-rank, arrival, weight, item): a max-heap by rank
        self._weight = 0
        self._arrivals = 0
        self._ceiling: int | None = None  # the smallest rank dropped so far

    def offer(self, rank: int, item: Any, weight: int = 1) -> list[Any]:
        """Add `item` if its rank can still be in the sample; the items dropped to make room
        (possibly `item` itself)."""
        if self._ceiling is not None and rank >= self._ceiling:
            return [item]
        heapq.heappush(self._held, (-rank, self._arrivals, weight, item))
        self._arrivals += 1
        self._weight += weight
        dropped = []
        while self._weight > self.limit:
            negative_rank, _, gone_weight, gone = heapq.heappop(self._held)
            self._weight -= gone_weight
            self._ceiling = -negative_rank
            dropped.append(gone)
        return dropped

    def by_rank(self) -> list[Any]:
        return [entry[3] for entry in sorted(self._held, key=lambda entry: (-entry[0], entry[1]))]

    def by_arrival(self) -> list[Any]:
        return [entry[3] for entry in sorted(self._held, key=lambda entry: entry[1])]
