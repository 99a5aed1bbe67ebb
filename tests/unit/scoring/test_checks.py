"""quality.json's MITI block: summary scores collected per conversation, reported per source."""

from pixelated.scoring import miti
from pixelated.scoring.checks import MitiSummaries


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
