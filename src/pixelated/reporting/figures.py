"""Plots for reports/report.html, drawn with matplotlib to SVG data URIs: the page needs no
server, script or font (text is drawn as paths), and the same inputs give the same bytes."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

plt.rcParams.update({"svg.hashsalt": "pixelated-report", "svg.fonttype": "path", "font.size": 9})
HATCH = "//"  # marks flagged groups, so colour is never the only signal
MARKERS = "os^vDPX*"  # each line its own marker too, not only its own colour


def _svg_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def funnel(stages: list[str], rows_by_source: dict[str, list[int]]) -> str:
    """Rows left after each stage, one line per source (log scale: sources differ 1000x)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for index, (source, rows) in enumerate(sorted(rows_by_source.items())):
        marker = MARKERS[index % len(MARKERS)]
        ax.plot(stages, [max(r, 0.8) for r in rows], marker=marker, label=source)
    ax.set_yscale("log")
    ax.set_ylabel("conversations after the stage")
    ax.legend(fontsize=7, ncol=2)
    return _svg_uri(fig)


def score_boxes(by_source: dict[str, dict], thresholds: dict[str, float]) -> str:
    """Quality per source as boxes from its percentiles (whiskers p10-p90, box p25-p75, line at
    the median), with each tier's threshold as a labelled dashed line."""
    names = sorted(by_source)
    stats = [
        {
            "label": f"{name}\n(n={by_source[name].get('n', '?')})",
            "whislo": by_source[name]["p10"],
            "q1": by_source[name]["p25"],
            "med": by_source[name]["p50"],
            "q3": by_source[name]["p75"],
            "whishi": by_source[name]["p90"],
            "mean": by_source[name].get("mean"),
            "fliers": [],
        }
        for name in names
    ]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    if stats:
        ax.bxp(stats, showmeans=False)
    for tier, value in sorted(thresholds.items(), key=lambda item: item[1]):
        ax.axhline(value, linestyle="--", linewidth=0.8, color="black")
        ax.text(0.55, value, f" {tier} ≥ {value}", va="bottom", fontsize=7)
    ax.set_ylabel("quality score")
    ax.tick_params(axis="x", labelsize=7)
    return _svg_uri(fig)


def keep_rates(attribute: str, groups: dict[str, dict], overall: float | None) -> str:
    """Keep rate per group of one attribute; flagged groups hatched and marked in the label."""
    names = sorted(groups, key=lambda g: groups[g].get("keep_rate", 0))
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.22 * max(len(names), 1)))
    labels = [f"{'⚑ ' if groups[g].get('flagged') else ''}{g} (n={groups[g].get('n', '?')})" for g in names]
    bars = ax.barh(labels, [groups[g].get("keep_rate", 0) for g in names], color="#4c78a8")
    for bar, name in zip(bars, names, strict=True):
        if groups[name].get("flagged"):
            bar.set_hatch(HATCH)
            bar.set_facecolor("#e45756")
            bar.set_edgecolor("black")
    if overall is not None:
        ax.axvline(overall, linestyle="--", color="black", linewidth=0.8, label=f"overall {overall:.2f}")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel(f"keep rate by {attribute} (⚑ hatched: flagged)")
    ax.tick_params(axis="y", labelsize=7)
    return _svg_uri(fig)


def bars(counts: dict[str, float], xlabel: str) -> str:
    """One horizontal bar per key, largest on top."""
    names = sorted(counts, key=counts.get)
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.25 * max(len(names), 1)))
    ax.barh(names, [counts[n] for n in names], color="#4c78a8")
    ax.set_xlabel(xlabel)
    return _svg_uri(fig)


def curves(rows: list[dict], x: str, title: str) -> str:
    """Every numeric column of a plot CSV against `x`, one line each."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    columns = [c for c in (rows[0] if rows else {}) if c != x]
    for index, column in enumerate(columns):
        points = [(float(r[x]), float(r[column])) for r in rows if r.get(column) not in (None, "")]
        if points:
            ax.plot(*zip(*points, strict=True), marker=MARKERS[index % len(MARKERS)], label=column)
    ax.set_xlabel(x)
    ax.set_title(title)
    if columns:
        ax.legend(fontsize=7)
    return _svg_uri(fig)
