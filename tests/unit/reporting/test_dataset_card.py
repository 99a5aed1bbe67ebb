"""The dataset card: score distributions appear when the score stage reported them, and the
known limits follow the config (sample mode, non-commercial and no-consent sources)."""

from pathlib import Path

from pixelated.core.text import DISCLAIMER
from pixelated.reporting.card import released_counts, render_dataset_card
from pixelated.reporting.config import SourceTerms

SOURCES = {
    "open": SourceTerms(license="CC BY 4.0", commercial_use=True, consent=True, consent_basis="opt-in"),
    "nc": SourceTerms(license="CC BY-NC 4.0", commercial_use=False, consent=False, consent_basis="public"),
}
RELEASE = {
    "dataset_version": "v1",
    "folders": {"splits": "cd" * 16 + ".dir"},
    "splits": {
        "train": {"file": "t.parquet", "md5": "ab" * 16, "conversations": 2, "by_source": {"open": 2}},
        "test": {"file": "u.parquet", "md5": "ef" * 16, "conversations": 1, "by_source": {"open": 1}},
    },
    "exports": {
        "jsonl": {"folder": "export/jsonl", "md5": "01" * 16 + ".dir", "conversations": {"train": 2}}
    },
}
LEDGERS = [
    {
        "stage": "ingest",
        "rows_in": 4,
        "rows_out": 3,
        "rows_dropped": 1,
        "dropped": {"bad_json": 1},
        "by_source": {"open": {"in": 4, "out": 3, "dropped_bad_json": 1}},
    }
]
CONTEXT = {
    "export_stats": {"dataset_version": "v1", "rows": {"train": 2}},
    "split_stats": {"groups": 3, "cv_folds": 0, "leakage": {"groups_across_splits": 0}},
    "quarantine_files": [Path("data/raw/quarantine/ingest.parquet")],
    "ledger_hashes": {"reports/ledger/ingest.json": "12" * 16},
}


def test_card_lists_scores_hashes_and_limits():
    quality = {"score": {"mean": 0.61, "p10": 0.2, "histogram": [1, 2]}, "scorer": "minilm"}
    card = render_dataset_card(RELEASE, LEDGERS, SOURCES, quality=quality, max_per_source=200, **CONTEXT)
    assert f"**{DISCLAIMER}**" in card
    assert f"| `t.parquet` | `{'ab' * 16}` |" in card
    assert f"| `splits` | `{'cd' * 16}.dir` |" in card and f"| `export/jsonl` | `{'01' * 16}.dir` |" in card
    assert "| `score.mean` | 0.61 |" in card and "| `score.p10` | 0.2 |" in card
    assert "scorer" not in card  # only numeric statistics are tabulated
    assert "| nc | 0 | 0 | 0 | CC BY-NC 4.0 | **no (non-commercial)** | no: public |" in card
    assert "| open | 2 | 1 | 3 | CC BY 4.0 | yes | yes: opt-in |" in card
    assert "- Sample build: only the first 200 conversations of each source were read." in card
    assert "- Non-commercial licences (nc)" in card
    assert "- No recorded research consent for: nc." in card
    assert "- No conversation released from: nc." in card
    assert "`data/raw/quarantine/ingest.parquet`" in card
    assert released_counts(card) == RELEASE


def test_card_without_scores_or_sampling_says_so():
    card = render_dataset_card(RELEASE, LEDGERS, SOURCES, quality=None, max_per_source=None, **CONTEXT)
    assert "No quality scores in this version." in card
    assert "Sample build" not in card
