"""The learned-crisis benchmark's logic (bench/crisis_learned.py): its hindsight operating points,
what it adds to the lexicon, and that it never reads the frozen test set. No model runs here."""

import numpy as np
import pytest

from bench.crisis_learned import DEV_SETS, precision_at_recall, recall_at_precision, scored
from pixelated.scoring.crisis_eval import FILES

Y = np.array([1, 1, 0, 1, 0, 0, 0, 1], dtype=bool)
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])


def test_the_frozen_test_set_is_never_read():
    assert "test" in FILES
    assert set(DEV_SETS) == {"dev", "first_frozen", "second_frozen"}


@pytest.mark.parametrize(("recall", "precision"), [(0.5, 1.0), (0.75, 0.75), (1.0, 0.5)])
def test_precision_at_recall_takes_the_first_threshold_that_reaches_it(recall, precision):
    assert precision_at_recall(Y, SCORE, recall) == pytest.approx(precision)


@pytest.mark.parametrize(("precision", "recall"), [(1.0, 0.5), (0.75, 0.75), (0.99, 0.5), (0.4, 1.0)])
def test_recall_at_precision_is_the_most_recall_that_keeps_it(precision, recall):
    assert recall_at_precision(Y, SCORE, precision) == pytest.approx(recall)


def test_additions_to_the_lexicon_count_only_turns_it_missed():
    lexicon = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    block = scored(Y, [SCORE], lexicon)
    # at 0.5 the scores flag turns 0-4: 0 the lexicon has; 1 and 3 are crises, 2 and 4 are not
    assert block["adds_to_lexicon_at_0.5_crisis"] == 2
    assert block["adds_to_lexicon_at_0.5_false_alarms"] == 2
    assert block["precision_at_0.5"] == pytest.approx(0.6)
    assert block["recall_at_0.5"] == pytest.approx(0.75)
