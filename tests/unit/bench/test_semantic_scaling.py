"""bench/semantic_scaling: its planted pairs pass the threshold, the lists find them, and the
growth exponent is read off the last two sizes."""

from bench.semantic_scaling import growth, measure, planted_vectors
from pixelated.dedup.config import SemanticConfig

CFG = SemanticConfig(
    enabled=True, threshold=0.85, max_chars=512, batch_size=64, exact_max=0, list_size=100, probes=8
)


def test_planted_pairs_are_above_the_threshold_on_both_sides():
    seeker, helper, planted = planted_vectors(1000, seed=1)
    a, b = map(list, zip(*sorted(planted), strict=True))
    assert ((seeker[a] * seeker[b]).sum(1) >= 0.85).all() and ((helper[a] * helper[b]).sum(1) >= 0.85).all()


def test_measure_compares_lists_with_all_pairs():
    row = measure(2000, CFG, exact_up_to=2000, seed=0)
    assert row["recall_vs_exact"] == 1.0 and row["planted_recall"] == 1.0
    assert row["extra_pairs"] == 0 and row["exact_pairs"] == row["listed_pairs"] == 40


def test_growth_exponent_from_the_last_two_sizes():
    rows = {10: {"s": 1.0}, 20: {"s": 2.0}, 40: {"s": 8.0}}
    result = growth(rows, "s")
    assert result["growth_exponent"] == 2.0 and result["from_sizes"] == [20, 40]
    assert result["extrapolated_hours"]["1000000"] == round(8.0 * (1e6 / 40) ** 2 / 3600, 2)
