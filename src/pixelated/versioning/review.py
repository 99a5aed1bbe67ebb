"""A markdown review of two data versions for pull requests: params and metrics that changed
(with deltas), rows kept and dropped per stage from the ledgers, changed plots as PNGs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from pixelated.reporting.summary import markdown_table
from pixelated.versioning.repo import open_repo, resolve

LEDGER_COUNTS = ("rows_in", "rows_out", "rows_dropped")


def _read_at(root: Path, path: str, rev: str | None) -> str | None:
    """A file's text in the workspace (rev None) or at a revision, git- or DVC-tracked."""
    if rev is None:
        target = root / path
        return target.read_text() if target.is_file() else None
    import dvc.api

    try:
        return dvc.api.read(path, repo=str(root), rev=rev)
    except Exception:  # absent at that revision (a new output), or not fetchable
        return None


def _metrics_at(root: Path, revs: list[str]) -> dict[str, dict[str, dict]]:
    """{rev: {metrics file: data}} for the given revisions ('workspace' for the working tree)."""
    with open_repo(root) as repo:
        shown = repo.metrics.show(revs=[r for r in revs if r != "workspace"])
    return {
        rev: {path: entry.get("data", {}) for path, entry in shown.get(rev, {}).get("data", {}).items()}
        for rev in revs
    }


def is_ledger(data: dict) -> bool:
    return {"rows_in", "rows_out", "stage"} <= set(data)


def _pipeline_position(ledger_pair: tuple[dict, dict], stage_order: list[str], path: str) -> tuple:
    """Sort key: ledgers in dvc.yaml stage order, unknown stages last by path."""
    stage = ledger_pair[1].get("stage") or ledger_pair[0].get("stage")
    return (stage_order.index(stage) if stage in stage_order else len(stage_order), path)


def pair_ledgers(
    old_metrics: dict, new_metrics: dict, stage_order: list[str]
) -> dict[str, tuple[dict, dict]]:
    """{ledger path: (old, new)} for every metrics file that is a ledger, in pipeline order."""
    ledgers = {
        path: (old_metrics.get(path) or {}, new_metrics.get(path) or {})
        for path in set(old_metrics) | set(new_metrics)
        if is_ledger(new_metrics.get(path) or old_metrics.get(path))
    }
    return {
        path: ledgers[path]
        for path in sorted(ledgers, key=lambda path: _pipeline_position(ledgers[path], stage_order, path))
    }


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def delta(old, new) -> str:
    """The signed change and, from a non-zero old value, the relative change; "" for non-numbers."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new)):
        return ""
    change = new - old
    text = f"{change:+.4g}" if isinstance(change, float) else f"{change:+d}"
    return text + (f" ({change / old:+.1%})" if old else "")


def _table_or(header: list[str], rows: list[list], empty: str) -> list[str]:
    return markdown_table(header, rows) if rows else [empty]


def param_lines(params: dict, base: str, new_label: str) -> list[str]:
    """The params section from `dvc params diff` output."""
    rows = [
        [f"`{name}`", f"`{fmt(v.get('old'))}`", f"`{fmt(v.get('new'))}`"]
        for path, changes in sorted(params.get("diff", params).items())
        for name, v in sorted(changes.items())
    ]
    return _table_or(["param", base, new_label], rows, "No param changed.")


def metric_lines(metrics: dict, ledger_paths: list[str], base: str, new_label: str) -> list[str]:
    """The metrics section from `dvc metrics diff` output; ledgers have their own section."""
    rows = [
        [f"`{path}`", f"`{name}`", fmt(v.get("old")), fmt(v.get("new")), delta(v.get("old"), v.get("new"))]
        for path, changes in sorted(metrics.get("diff", metrics).items())
        if path not in ledger_paths
        for name, v in sorted(changes.items())
    ]
    return _table_or(["file", "metric", base, new_label, "Δ"], rows, "No metric changed.")


def _ledger_row(old: dict, new: dict) -> list[str]:
    """A stage's row counts (old → new where they differ) and the drop reasons that changed."""
    cells = [
        fmt(new.get(k))
        if old.get(k) == new.get(k)
        else f"{fmt(old.get(k))} → {fmt(new.get(k))} {delta(old.get(k), new.get(k))}".strip()
        for k in LEDGER_COUNTS
    ]
    old_drops, new_drops = old.get("dropped", {}), new.get("dropped", {})
    changed = [
        f"{r}: {fmt(old_drops.get(r, 0))} → {fmt(new_drops.get(r, 0))}"
        for r in sorted(set(old_drops) | set(new_drops))
        if old_drops.get(r, 0) != new_drops.get(r, 0)
    ]
    return [new.get("stage") or old.get("stage"), *cells, "; ".join(changed) or "–"]


def ledger_lines(ledgers: dict[str, tuple[dict, dict]]) -> list[str]:
    """The ledger section: one row per stage, in the order of `ledgers`."""
    rows = [_ledger_row(old, new) for old, new in ledgers.values()]
    header = ["stage", "rows in", "rows out", "dropped", "drop reasons changed"]
    return _table_or(header, rows, "No ledgers.")


def plot_definitions(root: Path) -> list[dict]:
    """Plots declared in dvc.yaml (per-stage `plots:` and top-level), with x, y and title."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text()) or {}
    entries = [item for stage in spec.get("stages", {}).values() for item in stage.get("plots", [])]
    entries += spec.get("plots", []) or []
    plots = []
    for item in entries:
        path, props = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        plots.append({"path": path, **(props or {})})
    return plots


def plot_rows(text: str | None, path: str) -> list[dict]:
    """The data points of a plot file (csv, tsv, json or yaml); [] when the file is absent."""
    if text is None:
        return []
    if path.endswith((".csv", ".tsv")):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if path.endswith(".tsv") else ","))
    data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    return data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])


def _draw(plot: dict, series: dict[str, list[dict]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, rows in series.items():
        x_key = plot.get("x") or next(iter(rows[0]))
        y_key = plot.get("y") or list(rows[0])[-1]
        ax.plot([float(r[x_key]) for r in rows], [float(r[y_key]) for r in rows], marker=".", label=label)
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
    ax.set_title(plot.get("title", plot["path"]))
    ax.legend()
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=90, metadata={"Software": None})
    plt.close(fig)


def _plot_lines(root: Path, sides: list[tuple[str, str | None]], output: Path, image_base: str) -> list[str]:
    """Each changed plot drawn base vs new into `output`/plots/; `sides` is (label, revision to
    read at; None: the workspace) for the base, then the new version."""
    lines, unchanged = [], []
    for plot in plot_definitions(root):
        texts = [(label, _read_at(root, plot["path"], at)) for label, at in sides]
        if texts[0][1] == texts[1][1]:
            unchanged.append(plot["path"])
            continue
        series = {label: rows for label, text in texts if (rows := plot_rows(text, plot["path"]))}
        image = Path("plots") / (Path(plot["path"]).stem + ".png")
        _draw(plot, series, output / image)
        lines += [
            f"### {plot.get('title', plot['path'])}",
            "",
            f"![{plot['path']}]({image_base}{image.as_posix()})",
            "",
        ]
    if unchanged:
        lines += [f"Unchanged: {', '.join(f'`{p}`' for p in unchanged)}.", ""]
    return lines


def review(root: Path, base: str, rev: str | None, output: Path, image_base: str = "") -> Path:
    """Write `output`/review.md comparing `rev` (or the workspace) with `base`, plots as PNGs
    beside it: params and metrics that changed (with deltas), rows kept and dropped per stage.

    `image_base` prefixes image links, for a comment whose images are hosted elsewhere (CI)."""
    base_commit = resolve(root, base)
    new_label = "workspace" if rev is None else rev
    new_key = "workspace" if rev is None else resolve(root, rev)
    with open_repo(root) as repo:
        against = {} if rev is None else {"b_rev": new_key}  # no b_rev: the workspace
        params = repo.params.diff(a_rev=base_commit, **against)
        metrics = repo.metrics.diff(a_rev=base_commit, **against)
    shown = _metrics_at(root, [base_commit, new_key])
    stage_order = list((yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {}))
    ledgers = pair_ledgers(shown[base_commit], shown[new_key], stage_order)
    compared = f"`{new_key[:12]}`." if rev else "the working tree."
    lines = [
        f"# Pipeline review: `{base}` → `{new_label}`",
        "",
        f"Base `{base_commit[:12]}`, compared with {compared}",
    ]
    lines += ["", "## Params changed", "", *param_lines(params, base, new_label)]
    lines += ["", "## Metrics changed", "", *metric_lines(metrics, list(ledgers), base, new_label)]
    lines += ["", "## Ledger: rows kept and dropped per stage", "", *ledger_lines(ledgers)]
    lines += ["", "## Plots", ""]
    lines += _plot_lines(root, [(base, base_commit), (new_label, rev)], output, image_base)
    output.mkdir(parents=True, exist_ok=True)
    target = output / "review.md"
    target.write_text("\n".join(lines).rstrip() + "\n")
    return target
