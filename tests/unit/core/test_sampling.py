"""BottomK: a bounded sample that does not depend on the order of the stream."""

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelated.core.sampling import BottomK

# (rank, weight) pairs with distinct ranks, as hashes of distinct keys are
ITEMS = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(1, 9)), unique_by=lambda item: item[0], max_size=60
)


def drawn(items: list[tuple[int, int]], limit: int) -> BottomK:
    sample = BottomK(limit)
    for rank, weight in items:
        sample.offer(rank, (rank, weight), weight)
    return sample


def longest_prefix(items: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """The specification: the lowest ranks, in rank order, while their weights fit."""
    kept, total = [], 0
    for rank, weight in sorted(items):
        if total + weight > limit:
            break
        kept.append((rank, weight))
        total += weight
    return kept


@settings(max_examples=300, deadline=None)
@given(items=ITEMS, limit=st.integers(1, 80), order=st.randoms(use_true_random=False))
def test_the_sample_is_the_longest_rank_prefix_that_fits_whatever_the_order(items, limit, order):
    shuffled = list(items)
    order.shuffle(shuffled)
    sample = drawn(shuffled, limit)
    assert sample.by_rank() == longest_prefix(items, limit)


def test_by_arrival_keeps_the_stream_order_and_offer_names_what_it_dropped():
    sample = BottomK(5)
    assert sample.offer(30, "a", 2) == []
    assert sample.offer(10, "b", 2) == []
    assert sample.offer(20, "c", 2) == ["a"]  # 6 > 5: the highest rank goes
    assert sample.offer(25, "d", 1) == []  # below the dropped rank, and it fits
    assert sample.offer(40, "e", 1) == ["e"]  # at or above a dropped rank: never taken
    assert sample.by_arrival() == ["b", "c", "d"]
    assert sample.by_rank() == ["b", "c", "d"]
