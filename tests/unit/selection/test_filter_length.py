"""length_filter: the turn-count bounds are inclusive and come from the caller."""

from __future__ import annotations

from pixelated.selection.filter_length import length_filter
from tests.conftest import reasons, with_turns


def test_length_filter_bounds_are_inclusive(canonical_row, frame):
    counts = [0, 1, 2, 3, 49, 50, 51, 120]
    df = frame([canonical_row(i + 1, turns=with_turns(n)) for i, n in enumerate(counts)])
    kept, rejections = length_filter(df, min_turns=2, max_turns=50)
    assert kept["n_turns"].tolist() == [2, 3, 49, 50]
    assert kept.index.tolist() == [0, 1, 2, 3]
    assert [(r.reason, r.source_line) for r in rejections] == [
        ("too_few_turns", 1),
        ("too_few_turns", 2),
        ("too_many_turns", 7),
        ("too_many_turns", 8),
    ]
    assert rejections[1].detail == "1 turns, minimum 2"
    assert rejections[2].detail == "51 turns, maximum 50"
    assert len(kept) + len(rejections) == len(df)


def test_length_filter_uses_the_given_bounds(canonical_row, frame):
    df = frame([canonical_row(i, turns=with_turns(i)) for i in range(1, 6)])
    kept, rejections = length_filter(df, min_turns=3, max_turns=3)
    assert kept["n_turns"].tolist() == [3]
    assert reasons(rejections) == ["too_few_turns", "too_few_turns", "too_many_turns", "too_many_turns"]
