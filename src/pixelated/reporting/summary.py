"""Summaries of a pipeline run: DVC metrics, plot data and a markdown page, all from DuckDB.

Everything here is a pure function of its inputs (no timestamps, sorted keys), so the
report outputs are byte-stable and `dvc status` stays clean after a rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb


def _record(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    """The single row of `sql` as {column: value}, with NULL (an empty table) as 0."""
    cursor = con.execute(sql)
    names = [column[0] for column in cursor.description]
    return {name: float(value or 0) for name, value in zip(names, cursor.fetchone(), strict=True)}


def table_stats(path: Path, words_bin: int) -> dict:
    """Counts, turn and word statistics, and the two histograms, for a canonical table."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW conv AS SELECT * FROM read_parquet('{path.as_posix()}')")
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
    files = ", ".join(f"'{p.as_posix()}'" for p in paths)
    return duckdb.sql(
        f"SELECT stage, source, reason, count(*) FROM read_parquet([{files}]) GROUP BY ALL ORDER BY ALL"
    ).fetchall()


def load_ledgers(paths: list[Path]) -> list[dict]:
    """Ledgers in the order given (the pipeline order)."""
    return [json.loads(p.read_text()) for p in paths]


def build_metrics(stats: dict, ledgers: list[dict]) -> dict:
    return {
        "conversations": stats["conversations"],
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


def sources_table(metrics: dict, sources: dict) -> list[str]:
    """Per source: conversations kept, licence, whether commercial use is allowed, consent."""
    return markdown_table(
        ["source", "kept", "licence", "commercial use", "consent"],
        [
            [
                name,
                metrics["by_source"].get(name, 0),
                cfg["license"],
                "yes" if cfg.get("commercial_use") else "**no (non-commercial)**",
                f"{'yes' if cfg.get('consent') else 'no'}: {cfg.get('consent_basis', '')}",
            ]
            for name, cfg in sorted(sources.items())
        ],
    )


def render_summary(
    metrics: dict, ledgers: list[dict], quarantine: list[tuple], sources: dict, privacy: dict | None = None
) -> str:
    """The markdown page a reviewer reads: what came in, what was kept, what was dropped and why."""
    lines = [
        "# Pipeline summary",
        "",
        f"**{metrics['conversations']}** conversations, **{metrics['turns']}** turns kept; "
        f"**{metrics['rows_quarantined']}** rows quarantined (see `data/quarantine/`).",
        "",
        "This data is for research on support conversations. It is not clinical advice.",
        "",
        "## Ledger (rows in = rows out + rows dropped)",
        "",
        *markdown_table(
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
        ),
        "",
        "## Quarantine by source",
        "",
        *markdown_table(["stage", "source", "reason", "rows"], [list(row) for row in quarantine]),
        "",
        "## Sources and licences",
        "",
        *sources_table(metrics, sources),
        "",
        *_privacy_lines(privacy),
        "## Shape",
        "",
        *markdown_table(
            ["measure", "mean", "median", "p95"],
            [
                [
                    "turns per conversation",
                    *(metrics["turns_per_conversation"][k] for k in ("mean", "median", "p95")),
                ],
                ["words per turn", *(metrics["words_per_turn"][k] for k in ("mean", "median", "p95"))],
            ],
        ),
        "",
        "Plots: `dvc plots show` (turns per conversation, words per turn).",
        "",
    ]
    return "\n".join(lines)


DISCLAIMER = (
    "**This data is not clinical advice.** It holds support conversations for research on "
    "empathetic dialogue. Nothing in it, or in a model trained on it, replaces a qualified "
    "professional; anyone in danger should contact local emergency services or a crisis line."
)


def _quality_rows(quality: dict) -> list[list]:
    """Numeric score statistics from the score stage's report, one row per flattened key."""
    from pixelated.reporting.tracking import flatten

    return [
        [f"`{key}`", value]
        for key, value in sorted(flatten(quality).items())
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def known_limits(metrics: dict, sources: dict, max_per_source: int | None) -> list[str]:
    """The caveats a user must read before using this version, derived from config and counts."""
    limits = []
    if max_per_source is not None:
        limits.append(
            f"Sample build: only the first {max_per_source} conversations of each source were read."
        )
    non_commercial = sorted(n for n, c in sources.items() if not c.get("commercial_use"))
    if non_commercial:
        limits.append(
            f"Non-commercial licences ({', '.join(non_commercial)}): the combined dataset must not be "
            "used commercially unless those sources are removed."
        )
    no_consent = sorted(n for n, c in sources.items() if not c.get("consent"))
    if no_consent:
        limits.append(f"No recorded research consent for: {', '.join(no_consent)}.")
    missing = sorted(n for n in sources if not metrics["by_source"].get(n))
    if missing:
        limits.append(f"No conversation kept from: {', '.join(missing)}.")
    limits += [
        "Curation is automatic (schema rules, length and quality heuristics); no clinician has "
        "reviewed the conversations, and crowd-sourced or role-played dialogues may not reflect "
        "real counselling practice.",
        "The data inherits the language, demographic and topical biases of its sources.",
    ]
    return limits


def render_dataset_card(
    metrics: dict,
    ledgers: list[dict],
    sources: dict,
    hashes: dict[str, str],
    quality: dict | None,
    max_per_source: int | None,
) -> str:
    """reports/DATASET_CARD.md: what this data version is, where it came from, what it may be used for.

    `hashes` are the md5s of the files it describes (the values dvc.lock records for them).
    """
    lines = [
        "# Dataset card: Pixelated Empathy support conversations",
        "",
        DISCLAIMER,
        "",
        "## Version",
        "",
        "Content hashes (md5, as recorded in `dvc.lock`; `dvc.lock` in git pins every other output):",
        "",
        *markdown_table(["file", "md5"], [[f"`{path}`", f"`{md5}`"] for path, md5 in sorted(hashes.items())]),
        "",
        "## Sources and licences",
        "",
        *sources_table(metrics, sources),
        "",
        "## Counts",
        "",
        f"{metrics['conversations']} conversations, {metrics['turns']} turns; "
        f"{metrics['rows_quarantined']} rows quarantined on the way, by stage:",
        "",
        *markdown_table(
            ["stage", "in", "out", "dropped"],
            [[ledger[k] for k in ("stage", "rows_in", "rows_out", "rows_dropped")] for ledger in ledgers],
        ),
        "",
        "## Score distributions",
        "",
        *(
            markdown_table(["score statistic", "value"], _quality_rows(quality))
            if quality
            else ["No quality scores in this version."]
        ),
        "",
        "## Known limits",
        "",
        *(f"- {limit}" for limit in known_limits(metrics, sources, max_per_source)),
        "",
    ]
    return "\n".join(lines)
