"""quality.json's MITI and empathy-transfer blocks: collected per conversation or turn, reported
at the end."""

import numpy as np

from pixelated.scoring import miti
from pixelated.scoring.checks import EmpathyTransfer, MitiSummaries


def test_miti_summaries_report_means_and_threshold_shares_of_what_can_be_shown(monkeypatch):
    summaries = iter(
        [
            {"reflection_to_question": (1.5, 1.0), "percent_complex_reflections": (0.3, 0.5)},
            {"reflection_to_question": (2.5, 2.0)},
            {"percent_open_questions": (0.25, 3.0)},
        ]
    )
    monkeypatch.setattr(miti, "summary", lambda units: next(summaries))
    tally = MitiSummaries()
    for source in ("b", "b", "a"):
        tally.add(None, source)
    assert tally.report() == {
        "a": {
            "percent_open_questions": {"conversations": 1, "mean": 0.25, "share_fair": 0.0, "share_good": 0.0}
        },
        "b": {
            "reflection_to_question": {"conversations": 2, "mean": 2.0, "share_fair": 1.0, "share_good": 0.5}
        },
    }  # the complex-reflection share had too few coded units (evidence 0.5) to count


def test_empathy_transfer_reports_the_auc_of_heads_and_cue_phrases_per_mechanism():
    transfer = EmpathyTransfer()
    assert transfer.report() == {"turns": 0}
    turns = [
        ("What happened after that?", "question", [0.1, 0.2, 0.9]),
        ("How do you feel about it?", "question", [0.2, 0.1, 0.6]),
        ("It sounds like you feel alone.", "reflection", [0.8, 0.9, 0.7]),
        ("You did the right thing.", "affirmation", [0.9, 0.3, 0.1]),
    ]
    for text, strategy, levels in turns:
        transfer.add(text, strategy, np.array(levels, np.float32))
    report = transfer.report()
    assert report["turns"] == 4
    # explorations: questions at 0.9 and 0.6, the others at 0.7 and 0.1: 3 of 4 pairs in order
    assert report["explorations"]["auc_learned"] == 0.75
    assert report["emotional_reactions"]["auc_learned"] == 1.0  # 0.8, 0.9 above 0.1, 0.2
    assert report["interpretations"]["positive_strategies"] == ["restatement", "reflection"]
    assert 0 <= report["interpretations"]["auc_cue_phrases"] <= 1
