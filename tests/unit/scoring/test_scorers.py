"""The trained scorers: behaviour coding (rules and classifier), MITI summary scores, the
EPITOME empathy heads, their saved folder, and calibration. Tiny written inputs."""

import numpy as np
import pandas as pd
import pytest

from pixelated.scoring import behaviour, miti
from pixelated.scoring import metrics as quality
from pixelated.scoring.behaviour import CODES, LEARNED
from pixelated.scoring.calibration import calibrate
from pixelated.scoring.codes_training import labelled_units
from pixelated.scoring.empathy import MECHANISMS, EmpathyModel
from pixelated.scoring.scorers import Scorers
from pixelated.scoring.textclf import TextClassifier
from tests.scorers import tiny_code_classifier, tiny_empathy_model, tiny_scorers


@pytest.fixture(scope="module")
def classifier() -> TextClassifier:
    return tiny_code_classifier()


def test_sentences_are_the_coding_unit():
    assert behaviour.sentences("I hear you. That is hard. Ok. How long has it been?") == [
        "I hear you.",
        "That is hard. Ok.",
        "How long has it been?",
    ]


def test_label_mapping_covers_every_source_family():
    assert behaviour.map_label("esconv_failed", "Reflection of feelings") == "complex_reflection"
    assert behaviour.map_label("esconv_multiesc", "Providing Suggestions or Information") is None
    assert behaviour.map_label("mi_counselchat", "Open Question") == "open_question"
    assert behaviour.map_label("hope_sample", "ynq") == "closed_question"
    assert behaviour.map_label("empathetic_intents", "encouraging") == "affirm"
    assert behaviour.map_label("counsel_chat", "anything") is None
    for family in behaviour.LABEL_MAP.values():
        for code in family.values():
            assert code is None or code in LEARNED or code in CODES


def test_rules_split_question_form_and_permission():
    learned = np.zeros((4, len(LEARNED)))
    learned[:2, LEARNED.index("question")] = 1.0
    learned[2:, LEARNED.index("advise")] = 1.0
    units = [
        "what was that like for you?",
        "did you sleep?",
        "try a walk.",
        "would it be ok if i suggest a walk?",
    ]
    coded = behaviour.refine(units, learned, advice_requested=False)
    named = [CODES[i] for i in coded.argmax(axis=1)]
    assert named == [
        "open_question",
        "closed_question",
        "advise_without_permission",
        "advise_with_permission",
    ]
    asked = behaviour.refine(
        units[2:3], learned[2:3], advice_requested=behaviour.advice_requested("what should i do?")
    )
    assert CODES[asked.argmax()] == "advise_with_permission"


def test_cue_coded_behaviours_take_the_unit():
    learned = np.tile(np.eye(len(LEARNED))[LEARNED.index("other")], (3, 1))
    units = ["it's your choice, you know yourself best.", "let's work on this together.", "get over it."]
    named = [CODES[i] for i in behaviour.refine(units, learned, False).argmax(axis=1)]
    assert named == ["emphasize_autonomy", "seek_collaboration", "confront"]


def test_a_negated_cue_codes_nothing():
    learned = np.tile(np.eye(len(LEARNED))[LEARNED.index("affirm")], (2, 1))
    units = ["it's not your fault.", "it's your own fault."]
    named = [CODES[i] for i in behaviour.refine(units, learned, False).argmax(axis=1)]
    assert named == ["affirm", "confront"]


def test_code_classifier_learns_clear_cases_and_round_trips(classifier, tmp_path):
    cases = ["it sounds like you feel you have let everyone down", "you should try exercise", "hello"]
    predicted = [LEARNED[i] for i in classifier.probabilities(cases).argmax(axis=1)]
    assert predicted == ["complex_reflection", "advise", "other"]
    classifier.save(tmp_path, "codes")
    loaded = TextClassifier.load(tmp_path, "codes")
    np.testing.assert_allclose(loaded.probabilities(cases), classifier.probabilities(cases), rtol=1e-6)
    np.testing.assert_array_equal(tiny_code_classifier().coef, classifier.coef)  # deterministic fit


def test_a_written_answer_shows_its_skills(classifier):
    """Shape fairness: a single long answer is coded sentence by sentence."""
    answer = (
        "it sounds like you feel you have let everyone down. you have worked so hard on this. "
        "depression is common and treatable. you should try exercise."
    )
    units = behaviour.code_units(classifier, [answer], ["i feel like a failure, what should i do?"])
    assert len(units) == 4
    assert quality.therapeutic_accuracy(units) > 0.65
    counts = miti.counts(units)
    assert counts["advise_with_permission"] > counts["advise_without_permission"]


def test_miti_summary_anchors_and_evidence():
    one_hot = lambda *names: np.array([np.eye(len(CODES))[CODES.index(n)] for n in names])  # noqa: E731
    fair = miti.summary(
        one_hot("simple_reflection", "complex_reflection", "open_question", "closed_question")
    )
    assert fair["reflection_to_question"][0] == pytest.approx(1.0)
    assert fair["percent_complex_reflections"] == (0.5, 1.0)
    info_only = miti.summary(one_hot("giving_information", "giving_information"))
    assert info_only["percent_open_questions"][1] == 0.0  # no questions: no evidence, not a 0
    assert np.interp(1.0, *miti.ANCHORS["reflection_to_question"]) == pytest.approx(miti.FAIR)
    assert np.interp(2.0, *miti.ANCHORS["reflection_to_question"]) == pytest.approx(miti.GOOD)
    assert np.interp(0.4, *miti.ANCHORS["percent_complex_reflections"]) == pytest.approx(miti.FAIR)


def test_calibration_is_monotone_and_bounded():
    for metric in ("emotional_authenticity", "coherence", "personality_consistency"):
        values = [calibrate(metric, x) for x in np.linspace(-0.5, 1.5, 41)]
        assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values)


def test_empathy_heads_order_clear_cases_round_trip_and_refit_alike(tmp_path):
    model = tiny_empathy_model()
    cases = ["i'm so sorry, it sounds like you feel lost. what happened next?", "read the rules first."]
    levels = model.expected_levels(cases)
    assert levels.shape == (2, len(MECHANISMS)) and levels.min() >= 0 and levels.max() <= 1
    assert (levels[0] > 0.5).all() and (levels[1] < 0.5).all()
    model.save(tmp_path)
    np.testing.assert_allclose(EmpathyModel.load(tmp_path).expected_levels(cases), levels, rtol=1e-6)
    again = tiny_empathy_model()
    for head, refit in zip(model.heads, again.heads, strict=True):
        np.testing.assert_array_equal(head.coef, refit.coef)  # deterministic fit


def test_a_scorer_folder_saves_byte_stable_files(tmp_path):
    """DVC tracks models/scorers: a refit on the same data must write the same bytes."""
    first, second = tiny_scorers(tmp_path / "a"), tiny_scorers(tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir()) and len(names) == 16
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    assert Scorers.load(first).codes.coef.shape[0] == len(LEARNED)


def test_missing_scorer_folder_names_the_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro train_scorers"):
        Scorers.load(tmp_path)


def _labelled_batches(conversations: int, per_batch: int) -> list[pd.DataFrame]:
    """mi-counselchat-like conversations with 1-3 labelled helper turns each, in batches."""
    rows = [
        {
            "conversation_id": f"c{i}",
            "source": "mi_counselchat",
            "turns": [{"role": "seeker", "text": f"question {i}"}]
            + [
                {"role": "helper", "text": f"answer {i}.{k}", "label": "Open Question"}
                for k in range(i % 3 + 1)
            ],
        }
        for i in range(conversations)
    ]
    return [pd.DataFrame(rows[start : start + per_batch]) for start in range(0, conversations, per_batch)]


def test_labelled_units_past_the_cap_are_whole_conversations_drawn_by_id():
    everything = labelled_units(_labelled_batches(40, 7), max_units=10_000)
    assert len(everything.texts) == everything.read == 79  # 14 x 1 + 13 x 2 + 13 x 3
    assert everything.groups == sorted(everything.groups, key=lambda cid: int(cid[1:]))  # table order

    capped = labelled_units(_labelled_batches(40, 7), max_units=25)
    assert capped.read == 79 and 23 <= len(capped.texts) <= 25  # the next conversation would not fit
    kept = set(capped.groups)
    for cid in kept:  # a conversation is in whole or not at all
        assert capped.groups.count(cid) == everything.groups.count(cid)
    reordered = labelled_units(reversed(_labelled_batches(40, 7)), max_units=25)
    assert set(reordered.groups) == kept  # the sample does not depend on the order rows come in
