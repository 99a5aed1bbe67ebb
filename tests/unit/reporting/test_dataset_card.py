"""The dataset card: score distributions appear when the score stage reported them, and the
known limits follow the config (sample mode, non-commercial and no-consent sources)."""

from pixelated.reporting.summary import render_dataset_card

SOURCES = {
    "open": {"license": "CC BY 4.0", "commercial_use": True, "consent": True, "consent_basis": "opt-in"},
    "nc": {"license": "CC BY-NC 4.0", "commercial_use": False, "consent": False, "consent_basis": "public"},
}
METRICS = {"conversations": 3, "turns": 9, "rows_quarantined": 1, "by_source": {"open": 3}}
LEDGERS = [{"stage": "ingest", "rows_in": 4, "rows_out": 3, "rows_dropped": 1}]


def test_card_lists_scores_hashes_and_limits():
    quality = {"score": {"mean": 0.61, "p10": 0.2, "histogram": [1, 2]}, "scorer": "minilm"}
    card = render_dataset_card(METRICS, LEDGERS, SOURCES, {"t.parquet": "ab" * 16}, quality, 200)
    assert "**This data is not clinical advice.**" in card
    assert f"| `t.parquet` | `{'ab' * 16}` |" in card
    assert "| `score.mean` | 0.61 |" in card and "| `score.p10` | 0.2 |" in card
    assert "scorer" not in card  # only numeric statistics are tabulated
    assert "| nc | 0 | CC BY-NC 4.0 | **no (non-commercial)** | no: public |" in card
    assert "- Sample build: only the first 200 conversations of each source were read." in card
    assert "- Non-commercial licences (nc)" in card
    assert "- No recorded research consent for: nc." in card
    assert "- No conversation kept from: nc." in card


def test_card_without_scores_or_sampling_says_so():
    card = render_dataset_card(METRICS, LEDGERS, SOURCES, {}, None, None)
    assert "No quality scores in this version." in card
    assert "Sample build" not in card
