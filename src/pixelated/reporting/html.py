"""reports/report.html: one self-contained page of what the run did, for people who will not
read JSON. Built only from the stage reports and ledgers (never conversation text); plots are
SVG data URIs and a Content-Security-Policy forbids scripts and every outside request."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from pixelated.reporting import figures

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: .2rem .5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
nav a { margin-right: 1rem; }
"""
OUTCOME = {True: "kept", False: "removed"}
EXAMPLE_CLUSTERS = 3
# plot CSVs of train and evaluate (reports/plots/<name>.csv): x column and title
EVAL_PLOTS = {
    "recall_at_k": ("k", "Recall@k on test, per model"),
    "train_curve": ("epoch", "Training curve (epoch 0: un-tuned)"),
}
SECTIONS = {
    "funnel": "Funnel: ingest to export",
    "scores": "Score distributions and tier thresholds",
    "bias": "Keep rates by group",
    "pii": "PII replaced",
    "dedup": "Duplicate clusters",
    "eval": "Evaluation: curated vs un-curated",
}


@dataclass
class ReportInputs:
    """The reports the page is drawn from, already parsed."""

    ledgers: list[dict]
    quality: dict
    select: dict
    anonymize: dict
    privacy: dict
    dedup: dict
    evaluation: dict
    tiers: dict[str, float]
    plots: dict[str, list[dict]] = field(default_factory=dict)  # plot CSV name -> rows


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table, every cell escaped; numbers right-aligned."""

    def cell(value) -> str:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        shown = f"{value:.4g}" if isinstance(value, float) else value
        return f"<td{' class=n' if numeric else ''}>{escape(str(shown))}</td>"

    head = "".join(f"<th scope=col>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>'


def funnel_section(ledgers: list[dict]) -> str:
    stages = [ledger["stage"] for ledger in ledgers]
    sources = sorted({s for ledger in ledgers for s in ledger.get("by_source", {})})
    rows = {s: [ledger.get("by_source", {}).get(s, {}).get("out", 0) for ledger in ledgers] for s in sources}
    counts = [
        [ledger["stage"], ledger["rows_in"], ledger["rows_out"], ledger["rows_dropped"]] for ledger in ledgers
    ]
    reasons = [
        [ledger["stage"], source, key.removeprefix("dropped_"), n]
        for ledger in ledgers
        for source, per in sorted(ledger.get("by_source", {}).items())
        for key, n in sorted(per.items())
        if key.startswith("dropped_")
    ]
    return (
        image(figures.funnel(stages, rows), "Conversations left after each stage, one line per source")
        + table(["stage", "rows in", "rows out", "dropped"], counts)
        + "<h3>Drop reasons per stage and source</h3>"
        + table(["stage", "source", "reason", "rows"], reasons)
    )


def scores_section(quality: dict, tiers: dict[str, float], select: dict) -> str:
    by_source = {s: d for s, d in (quality.get("by_source") or {}).items() if "p50" in d}
    kept = select.get("would_keep_at_tier") or {}
    return image(
        figures.score_boxes(by_source, tiers), "Quality score per source with tier thresholds"
    ) + table(
        ["tier", "threshold", "conversations kept"],
        [[tier, value, kept.get(tier, "–")] for tier, value in sorted(tiers.items(), key=lambda i: i[1])],
    )


def bias_section(select: dict) -> str:
    parts = []
    for attribute, report in sorted((select.get("bias") or {}).items()):
        groups = report.get("groups") or {}
        if groups:
            alt = f"Keep rate per {attribute} group; flagged groups hatched and marked with a flag"
            parts.append(f"<h3>{escape(attribute)}</h3>")
            parts.append(image(figures.keep_rates(attribute, groups, report.get("overall_keep_rate")), alt))
    return "".join(parts) or "<p>No bias report in this run.</p>"


def pii_section(anonymize: dict, privacy: dict) -> str:
    replaced = anonymize.get("entities_replaced") or {}
    recall = {name: e.get("recall") for name, e in (privacy.get("entities") or {}).items()}
    rows = [
        [name, replaced.get(name, 0), recall.get(name, "–")] for name in sorted(set(replaced) | set(recall))
    ]
    return image(
        figures.bars(replaced, "PII spans replaced in the data"), "PII spans replaced, by type"
    ) + table(["type", "replaced in the data", "recall on planted PII"], rows)


def dedup_section(dedup: dict) -> str:
    removed = [[method, n] for method, n in sorted((dedup.get("removed") or {}).items())]
    by_source = [[pair, n] for pair, n in sorted((dedup.get("removed_by_source") or {}).items())]
    clusters = {e["cluster_id"]: e for found in (dedup.get("examples") or {}).values() for e in found}
    examples = [
        [cid, m["conversation_id"], m["source"], m["method"], OUTCOME[m["kept"]]]
        for cid in sorted(clusters)[:EXAMPLE_CLUSTERS]
        for m in clusters[cid].get("members", [])
    ]
    return (
        table(["method", "conversations removed"], removed)
        + table(["kept source ← removed source", "conversations"], by_source)
        + "<h3>Example clusters (ids only: the text is in the anonymized table)</h3>"
        + table(["cluster", "conversation", "source", "found by", "outcome"], examples)
    )


def ablation_table(ablation: dict) -> str:
    """The curation ablation: each training pool's recall@1 and MRR with 95% intervals, per test split."""

    def shown(figure: dict) -> str:
        low, high = figure["ci95"]
        return f"{figure['mean']:.3f} [{low:.3f}, {high:.3f}]"

    rows = [
        [split, arm, shown(results[arm]["recall_at_1"]), shown(results[arm]["mrr"])]
        for split in ("curated", "uncurated")
        if (results := ablation.get(split))
        for arm in ("curated", "random_subset", "passed_dedup")
    ]
    return table(["test split", "trained on", "recall@1 [95% CI]", "MRR [95% CI]"], rows) if rows else ""


def eval_section(evaluation: dict, plots: dict[str, list[dict]]) -> str:
    models = evaluation.get("test") or {}
    rows = [
        [name, m.get("recall_at_1"), m.get("recall_at_5"), m.get("mrr")]
        for name, m in sorted(models.items())
        if isinstance(m, dict)
    ]
    parts = [table(["model", "recall@1", "recall@5", "MRR"], rows)]
    gain = evaluation.get("curation_gain_recall_at_1")
    parts.append(
        "<p>Curation gain (recall@1 on the curated test split, curated training data minus a random "
        f"subset of the same size, mean over seeds): <strong>{escape(str(gain))}</strong></p>"
    )
    parts.append(ablation_table(evaluation.get("ablation") or {}))
    for name, (x, title) in EVAL_PLOTS.items():
        if plots.get(name):
            parts.append(image(figures.curves(plots[name], x, title), title))
    return "".join(parts)


def render(inputs: ReportInputs) -> str:
    """The whole page."""
    bodies = {
        "funnel": funnel_section(inputs.ledgers),
        "scores": scores_section(inputs.quality, inputs.tiers, inputs.select),
        "bias": bias_section(inputs.select),
        "pii": pii_section(inputs.anonymize, inputs.privacy),
        "dedup": dedup_section(inputs.dedup),
        "eval": eval_section(inputs.evaluation, inputs.plots),
    }
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in SECTIONS.items())
    sections = "".join(
        f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{escape(SECTIONS[key])}</h2>'
        f"{body}</section>"
        for key, body in bodies.items()
    )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>Pipeline data report</title><style>{STYLE}</style></head><body>"
        f"<h1>Pipeline data report</h1><nav aria-label=Sections>{nav}</nav><main>{sections}</main>"
        "</body></html>\n"
    )
