"""The frozen crisis test sets cannot change silently; the evaluation's figures and intervals."""

import hashlib

import pandas as pd
import pytest

from pixelated.scoring import crisis, crisis_eval
from tests.paths import REPO

LABELS = REPO / "data" / "labels"
FROZEN_SHA256 = {
    "crisis_test.csv": "437efba2be1ec5ff3cbc1274df5a6f1fe084dd9329d02d27f36ed200b109a8d6",
    "crisis_holdout.csv": "1e6768d306363bc5e2277b1ca64ce98403946a608751bfe23a3255e4f6371d46",
    "crisis_frozen_3.csv": "313c5620dcb8e6e0ef86166c2a7f2441e3b1ec93b628f207ce680712dfafc25e",
}


@pytest.mark.parametrize("name", sorted(FROZEN_SHA256))
def test_frozen_sets_are_unchanged(name):
    digest = hashlib.sha256((LABELS / name).read_bytes()).hexdigest()
    assert digest == FROZEN_SHA256[name], f"{name} is frozen: add a new set instead of editing it"


def test_label_sets_are_large_enough_and_disjoint_from_development():
    sets = crisis_eval.load(LABELS)
    assert len(sets.test) >= 150 and (sets.test["label"] != "none").sum() >= 25
    for frame in (sets.test, sets.first_frozen, sets.second_frozen):
        assert set(frame["label"]) <= {"none", *crisis.KINDS}
    assert len(sets.referral) >= 150 and set(sets.referral["label"]) == {"refers", "no"}
    assert len(sets.drops) >= 40
    dev, first, second, test = (
        set(zip(frame["conversation_id"], frame["turn_index"].astype(str), strict=True))
        for frame in (sets.dev, sets.first_frozen, sets.second_frozen, sets.test)
    )
    assert not (dev | first | second) & test


def test_wilson_interval():
    assert crisis_eval.wilson(0, 0) is None
    low, high = crisis_eval.wilson(45, 50)
    assert low == pytest.approx(0.7864, abs=1e-3) and high == pytest.approx(0.9565, abs=1e-3)


def test_detector_counts_and_missing_turns():
    labels = pd.DataFrame(
        {
            "conversation_id": ["a", "b", "c", "zz"],
            "turn_index": [0, 0, 0, 0],
            "label": ["suicide", "none", "abuse", "suicide"],
        }
    )
    texts = {
        ("a", 0): "I want to kill myself.",
        ("b", 0): "This traffic is killing me.",
        ("c", 0): "I feel fine.",
    }
    result = crisis_eval.detector(labels, texts)
    assert (result["turns"], result["turns_not_in_this_run"]) == (3, 1)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 0, 1)
    assert result["recall_by_kind"]["abuse"]["value"] == 0.0


def test_report_holds_every_block_with_written_referral_cases():
    sets = crisis_eval.load(LABELS)
    written = sets.referral[sets.referral["origin"] == "written"]
    block = crisis_eval.report(
        crisis_eval.LabelSets(
            sets.test, sets.dev, sets.first_frozen, sets.second_frozen, written, sets.drops
        ),
        {},
    )
    assert block["referral"]["replies"] == len(written) and block["referral"]["accuracy"]["value"] >= 0.9
    assert block["crisis"]["detector"]["turns_not_in_this_run"] == len(sets.test)
    assert block["crisis"]["safety_drops_review"]["agreement"]["n"] >= 40


def test_labelled_turns_are_found_by_conversation_and_turn_in_any_batch():
    batches = [
        pd.DataFrame({"conversation_id": ["a"], "turns": [[{"text": "hi"}, {"text": "I want to die."}]]}),
        pd.DataFrame({"conversation_id": ["b"], "turns": [[{"text": "call 988 now"}]]}),
    ]
    found = crisis_eval.labelled_texts(batches, {("a", 1), ("b", 0), ("c", 0)})
    assert found == {("a", 1): "I want to die.", ("b", 0): "call 988 now"}


def test_drops_review_headline_is_the_blind_sample_and_the_earlier_one_is_dev():
    labels = pd.DataFrame(
        {
            "gate": ["v2", "v2", "v2", "new", "new", "old_only"],
            "reviewer_agrees": ["yes", "no", "no", "yes", "yes", "no"],
            "reason_right": ["yes", "no", "yes", "no", "yes", "no"],
        }
    )
    result = crisis_eval.drops_review(labels)
    assert result["agreement"]["n"] == 3 and result["agreement"]["value"] == round(1 / 3, 4)
    assert result["reason_right"]["value"] == round(2 / 3, 4)
    assert result["dev"]["agreement"] == {"value": 1.0, "n": 2, "ci95": crisis_eval.wilson(2, 2)}
    assert result["dev"]["old_only_rightly_kept"]["value"] == 1.0
