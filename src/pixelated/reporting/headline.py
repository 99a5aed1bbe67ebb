"""The headline metrics: the one small DVC metrics file, so `dvc exp show` and `dvc metrics diff`
fit on a screen. The detailed reports and ledgers they come from stay plain outputs, shown by
`make review` and reports/report.html."""

from __future__ import annotations

# Top-level keys of reports/headline.json, in order; `make exps` keeps these columns.
HEADLINE_KEYS = (
    "kept",
    "kept_by_source",
    "agreement_auc",
    "crisis",
    "pii_recall",
    "leakage",
    "recall_at_1",
    "curation_gain",
)


def _get(data: dict, dotted: str):
    """A nested value by dotted path, None where any part is absent."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


def pii_recall(privacy: dict) -> float | None:
    """Recall over every planted entity of the privacy benchmark (types weighted by count)."""
    entities = [e for e in (privacy.get("entities") or {}).values() if e.get("planted")]
    planted = sum(e["planted"] for e in entities)
    return sum(e["recall"] * e["planted"] for e in entities) / planted if planted else None


def headline(
    select: dict, select_ledger: dict, quality: dict, privacy: dict, split: dict, evaluation: dict
) -> dict:
    """The headline numbers from the stage reports; a value a report lacks is None."""
    by_source = select_ledger.get("by_source") or {}
    leakage = split.get("leakage") or {}
    values = {
        "kept": select.get("would_keep_at_tier") or {},
        "kept_by_source": {name: counts.get("out", 0) for name, counts in sorted(by_source.items())},
        "agreement_auc": _get(quality, "agreement.rejected_vs_accepted.auc"),
        "crisis": {
            # on the frozen test set only (data/labels/crisis_frozen_3.csv), never a tuned-on one
            "precision": _get(quality, "crisis.detector.precision.value"),
            "recall": _get(quality, "crisis.detector.recall.value"),
        },
        "pii_recall": pii_recall(privacy),
        "leakage": sum(leakage.values()) if leakage else None,
        "recall_at_1": _get(evaluation, "test.finetuned.recall_at_1"),
        "curation_gain": evaluation.get("curation_gain_recall_at_1"),
    }
    assert tuple(values) == HEADLINE_KEYS
    return {
        key: {k: _rounded(v) for k, v in value.items()} if isinstance(value, dict) else _rounded(value)
        for key, value in values.items()
    }
