"""Summaries of a pipeline run: DVC metrics, plot data and a markdown page, all from DuckDB.

They describe the released data (the split tables and their exports) and the funnel of
ledgers that led to it. Everything here is a pure function of its inputs (no timestamps,
sorted keys), so the report outputs are byte-stable and `dvc status` stays clean after a rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pixelated.core.shards import parts
from pixelated.core.text import DISCLAIMER


def _record(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    """The single row of `sql` as {column: value}, with NULL (an empty table) as 0."""
    cursor = con.execute(sql)
    names = [column[0] for column in cursor.description]
    return {name: float(value or 0) for name, value in zip(names, cursor.fetchone(), strict=True)}


def _parquet_list(paths: list[Path]) -> str:
    """DuckDB's list of the Parquet files of `paths` (tables, sharded or not)."""
    return "[" + ", ".join(f"'{part.as_posix()}'" for path in paths for part in parts(path)) + "]"


def table_stats(paths: list[Path], words_bin: int) -> dict:
    """Counts, turn and word statistics, and the two histograms, over canonical tables."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW conv AS SELECT * FROM read_parquet({_parquet_list(paths)})")
    con.execute(
        "CREATE VIEW turn AS SELECT source, t.role AS role, "
        "len(string_split_regex(trim(t.text), '\\s+')) AS words "
        "FROM (SELECT source, unnest(turns) AS t FROM conv)"
    )
    conversations = con.execute("SELECT count(*) FROM conv").fetchone()[0]
    turn_stats = _record(
        con,
        "SELECT round(avg(n_turns), 3) AS mean, median(n_turns) AS median, "
        "quantile_cont(n_turns, 0.95) AS p95, max(n_turns) AS max FROM conv",
    )
    word_stats = _record(
        con,
        "SELECT round(avg(words), 3) AS mean, median(words) AS median, "
        "quantile_cont(words, 0.95) AS p95 FROM turn",
    )
    by_source = dict(
        con.execute("SELECT source, count(*) FROM conv GROUP BY source ORDER BY source").fetchall()
    )
    turns_by_role = dict(
        con.execute("SELECT role, count(*) FROM turn GROUP BY role ORDER BY role").fetchall()
    )
    turns_hist = con.execute(
        "SELECT n_turns, count(*) AS conversations FROM conv GROUP BY n_turns ORDER BY n_turns"
    ).fetchall()
    words_hist = con.execute(
        f"SELECT (words // {words_bin}) * {words_bin} AS words, count(*) AS turns "
        "FROM turn GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {
        "conversations": conversations,
        "turns": sum(turns_by_role.values()),
        "turns_by_role": turns_by_role,
        "turns_per_conversation": turn_stats,
        "words_per_turn": word_stats,
        "by_source": by_source,
        "histograms": {"turns": turns_hist, "words": words_hist},
    }


def quarantine_counts(paths: list[Path]) -> list[tuple]:
    """(stage, source, reason, count) over every quarantine file."""
    if not paths:
        return []
    return duckdb.sql(
        f"SELECT stage, source, reason, count(*) FROM read_parquet({_parquet_list(paths)}) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()


def load_ledgers(paths: list[Path]) -> list[dict]:
    """Ledgers in the order given (the pipeline order)."""
    return [json.loads(p.read_text()) for p in paths]


def build_metrics(stats: dict, ledgers: list[dict], release: dict) -> dict:
    """The DVC metrics of the released data: its shape, splits, exports and the ledger funnel."""
    return {
        "conversations": stats["conversations"],
        "splits": {name: split["conversations"] for name, split in release["splits"].items()},
        "exports": {fmt: export["conversations"] for fmt, export in release["exports"].items()},
        "turns": stats["turns"],
        "turns_per_conversation": stats["turns_per_conversation"],
        "words_per_turn": stats["words_per_turn"],
        "by_source": stats["by_source"],
        "ledger": {
            ledger["stage"]: {k: ledger[k] for k in ("rows_in", "rows_out", "rows_dropped")}
            for ledger in ledgers
        },
        "rows_quarantined": sum(ledger["rows_dropped"] for ledger in ledgers),
    }


def privacy_metrics(bench: dict, anonymized: dict) -> dict:
    """The privacy headline: benchmark recall/precision and how much real text was changed."""
    return {
        "recall": {entity: scores["recall"] for entity, scores in bench["entities"].items()},
        "precision": bench["precision"],
        "targets_met": bench["targets"]["met"],
        "tokens_changed_ratio": anonymized["tokens_changed_ratio"],
        "entities_replaced": anonymized["entities_replaced"],
        "consent_required": anonymized["consent_required"],
    }


def _privacy_lines(privacy: dict | None) -> list[str]:
    if privacy is None:
        return []
    return [
        "## Privacy",
        "",
        "Every later stage reads anonymized text (`anonymize`). Planted-PII benchmark "
        f"(`reports/privacy.json`): precision **{privacy['precision']}**, targets met: "
        f"**{'yes' if privacy['targets_met'] else 'NO'}**. Real tokens changed: "
        f"{privacy['tokens_changed_ratio']:.2%}. Records without consent are "
        f"{'dropped' if privacy['consent_required'] else '**kept** (privacy.require_consent: false)'}.",
        "",
        *markdown_table(
            ["entity", "benchmark recall", "replaced in this data"],
            [
                [entity, privacy["recall"].get(entity, "-"), privacy["entities_replaced"].get(entity, 0)]
                for entity in sorted({*privacy["recall"], *privacy["entities_replaced"]})
            ],
        ),
        "",
    ]


def write_plot_csv(path: Path, header: tuple[str, str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header), *(f"{a},{b}" for a, b in rows)]
    path.write_text("\n".join(lines) + "\n")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    """GitHub-flavoured markdown table lines."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows),
    ]


def sources_table(release: dict, sources: dict) -> list[str]:
    """Per source: conversations released in each split, licence, commercial use, consent."""
    splits = release["splits"]
    rows = []
    for name, terms in sorted(sources.items()):
        counts = [split["by_source"].get(name, 0) for split in splits.values()]
        rows.append(
            [
                name,
                *counts,
                sum(counts),
                terms.license,
                "yes" if terms.commercial_use else "**no (non-commercial)**",
                f"{'yes' if terms.consent else 'no'}: {terms.consent_basis}",
            ]
        )
    header = ["source", *splits, "released", "licence", "commercial use", "consent"]
    return markdown_table(header, rows)


def funnel_table(ledgers: list[dict]) -> list[str]:
    """One row per stage, in pipeline order: rows in, out, dropped and why."""
    return markdown_table(
        ["stage", "in", "out", "dropped", "reasons"],
        [
            [
                ledger["stage"],
                ledger["rows_in"],
                ledger["rows_out"],
                ledger["rows_dropped"],
                ", ".join(f"{r}: {n}" for r, n in ledger["dropped"].items()) or "-",
            ]
            for ledger in ledgers
        ],
    )


def source_funnel_table(ledgers: list[dict]) -> list[str]:
    """Per source: rows read by the first stage, then rows left after each stage."""
    names = sorted({name for ledger in ledgers for name in ledger["by_source"]})
    counts = [
        [ledgers[0]["by_source"].get(name, {}).get("in", 0)]
        + [ledger["by_source"].get(name, {}).get("out", 0) for ledger in ledgers]
        for name in names
    ]
    header = ["source", f"{ledgers[0]['stage']} in", *(ledger["stage"] for ledger in ledgers)]
    return markdown_table(header, [[name, *row] for name, row in zip(names, counts, strict=True)])


def headline(metrics: dict, quarantine_files: list[Path]) -> str:
    splits = ", ".join(f"{name} {n}" for name, n in metrics["splits"].items())
    files = ", ".join(f"`{path.as_posix()}`" for path in quarantine_files)
    return (
        f"**{metrics['conversations']}** conversations, **{metrics['turns']}** turns released "
        f"({splits}); **{metrics['rows_quarantined']}** rows quarantined on the way (see {files})."
    )


def render_summary(
    metrics: dict,
    ledgers: list[dict],
    quarantine: list[tuple],
    quarantine_files: list[Path],
    release: dict,
    sources: dict,
    privacy: dict | None = None,
) -> str:
    """The markdown page a reviewer reads: what was released, what was dropped on the way and why."""
    shape = [
        [
            "turns per conversation",
            *(metrics["turns_per_conversation"][k] for k in ("mean", "median", "p95")),
        ],
        ["words per turn", *(metrics["words_per_turn"][k] for k in ("mean", "median", "p95"))],
    ]
    lines = [
        "# Pipeline summary",
        "",
        headline(metrics, quarantine_files),
        "",
        DISCLAIMER,
        "",
        "## Ledger (rows in = rows out + rows dropped)",
        "",
        *funnel_table(ledgers),
        "",
        "## Quarantine by source",
        "",
        *markdown_table(["stage", "source", "reason", "rows"], [list(row) for row in quarantine]),
        "",
        "## Sources and licences of the released data",
        "",
        *sources_table(release, sources),
        "",
        *_privacy_lines(privacy),
        "## Shape of the released data",
        "",
        *markdown_table(["measure", "mean", "median", "p95"], shape),
        "",
        "Plots: `dvc plots show` (turns per conversation, words per turn).",
        "",
    ]
    return "\n".join(lines)
