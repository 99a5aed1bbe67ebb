"""reports/DATASET_CARD.md: what a data version releases, where it came from, what it may be used for.

The card describes the RELEASED data, read from the files themselves: the split tables and
every export format, with their counts per split and source and the hashes `dvc.lock`
records for them. The ledgers of every stage tell how the data got there. A JSON block
(`released_counts` reads it back) lets tests check the card against the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from pixelated.core.hashing import dvc_md5, file_md5
from pixelated.core.schema import SPLITS
from pixelated.core.text import DISCLAIMER
from pixelated.export.writers import exported_counts
from pixelated.reporting.summary import funnel_table, markdown_table, source_funnel_table, sources_table

BOLD_DISCLAIMER = (
    f"**{DISCLAIMER}** Nothing in it, or in a model trained on it, replaces a qualified professional; "
    "anyone in danger should contact local emergency services or a crisis line."
)
RELEASE_BLOCK = "```json released"


def describe_release(splits: Path, export: Path, export_stats: dict) -> dict:
    """The split tables and exports as written: per split its file, md5, conversations and
    sources; per format its folder, dvc md5 and the conversations its files hold per split."""
    split_files = {name: splits / f"{name}.parquet" for name in SPLITS}
    return {
        "dataset_version": export_stats["dataset_version"],
        "folders": {path.as_posix(): dvc_md5(path) for path in (splits, export)},
        "splits": {
            name: {
                "file": path.as_posix(),
                "md5": file_md5(path),
                "conversations": pq.ParquetFile(path).metadata.num_rows,
                "by_source": source_counts(path),
            }
            for name, path in split_files.items()
        },
        "exports": {
            fmt: {"folder": (export / fmt).as_posix(), "md5": dvc_md5(export / fmt), "conversations": counts}
            for fmt, counts in exported_counts(export, SPLITS).items()
        },
    }


def source_counts(path: Path) -> dict[str, int]:
    """Conversations per source, sorted by source, counted by Arrow (no Python row objects)."""
    counts = pc.value_counts(pq.read_table(path, columns=["source"], read_dictionary=["source"])["source"])
    return dict(
        sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
    )


def released_counts(card_text: str) -> dict:
    """The release description a card carries (what `describe_release` returned for it)."""
    start = card_text.index(RELEASE_BLOCK + "\n") + len(RELEASE_BLOCK) + 1
    return json.loads(card_text[start : card_text.index("\n```", start)])


def _release_lines(release: dict, export_stats: dict) -> list[str]:
    splits, exports = release["splits"], release["exports"]
    total = sum(split["conversations"] for split in splits.values())
    dropped = {
        fmt: ", ".join(
            f"{name}: {reason} {n}" for name, part in stats.items() for reason, n in part["dropped"].items()
        )
        for fmt, stats in export_stats.items()
        if fmt in exports
    }
    return [
        f"This version releases **{total}** conversations in {len(splits)} splits, exported in "
        f"{len(exports)} formats (dataset version `{release['dataset_version']}`).",
        "",
        *markdown_table(
            ["split", "file", "conversations"],
            [[name, f"`{split['file']}`", split["conversations"]] for name, split in splits.items()],
        ),
        "",
        "Conversations in each export, read back from its files (a format may drop conversations it "
        "cannot express):",
        "",
        *markdown_table(
            ["format", "folder", *splits, "dropped"],
            [
                [fmt, f"`{export['folder']}`", *export["conversations"].values(), dropped.get(fmt) or "-"]
                for fmt, export in exports.items()
            ],
        ),
    ]


def _version_lines(release: dict, ledger_hashes: dict[str, str]) -> list[str]:
    hashes = {
        **release["folders"],
        **{split["file"]: split["md5"] for split in release["splits"].values()},
        **{export["folder"]: export["md5"] for export in release["exports"].values()},
        **ledger_hashes,
    }
    return [
        "Content hashes (md5, as recorded in `dvc.lock`; a folder's ends in `.dir`; `dvc.lock` in git "
        "pins every other output):",
        "",
        *markdown_table(["file", "md5"], [[f"`{path}`", f"`{md5}`"] for path, md5 in sorted(hashes.items())]),
    ]


def _funnel_lines(ledgers: list[dict], quarantine_files: list[Path], split_stats: dict) -> list[str]:
    leakage = ", ".join(f"{key.replace('_', ' ')}: {n}" for key, n in sorted(split_stats["leakage"].items()))
    files = ", ".join(f"`{path.as_posix()}`" for path in quarantine_files)
    return [
        f"{sum(ledger['rows_dropped'] for ledger in ledgers)} rows were dropped on the way, by stage "
        "(rows in = rows out + rows dropped):",
        "",
        *funnel_table(ledgers),
        "",
        "Rows of each source left after each stage:",
        "",
        *source_funnel_table(ledgers),
        "",
        f"Every dropped row is kept, with its source file, line and reason, in {files}.",
        "",
        f"Splits keep each of the {split_stats['groups']} dedup groups in one split "
        f"({split_stats['cv_folds']} CV folds over train and validation). Across splits: {leakage}.",
    ]


def _quality_rows(quality: dict) -> list[list]:
    """Numeric score statistics from the score stage's report, one row per flattened key."""
    from pixelated.reporting.tracking import flatten

    return [
        [f"`{key}`", value]
        for key, value in sorted(flatten(quality).items())
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def known_limits(release: dict, sources: dict, max_per_source: int | None) -> list[str]:
    """The caveats a user must read before using this version, derived from config and counts."""
    limits = []
    if max_per_source is not None:
        limits.append(
            f"Sample build: only the first {max_per_source} conversations of each source were read."
        )
    non_commercial = sorted(n for n, terms in sources.items() if not terms.commercial_use)
    if non_commercial:
        limits.append(
            f"Non-commercial licences ({', '.join(non_commercial)}): the combined dataset must not be "
            "used commercially unless those sources are removed."
        )
    no_consent = sorted(n for n, terms in sources.items() if not terms.consent)
    if no_consent:
        limits.append(f"No recorded research consent for: {', '.join(no_consent)}.")
    released = {name for split in release["splits"].values() for name, n in split["by_source"].items() if n}
    missing = sorted(set(sources) - released)
    if missing:
        limits.append(f"No conversation released from: {', '.join(missing)}.")
    limits += [
        "Curation is automatic (schema rules, length and quality heuristics); no clinician has "
        "reviewed the conversations, and crowd-sourced or role-played dialogues may not reflect "
        "real counselling practice.",
        "The data inherits the language, demographic and topical biases of its sources.",
    ]
    return limits


def render_dataset_card(
    release: dict,
    ledgers: list[dict],
    sources: dict,
    *,
    export_stats: dict,
    split_stats: dict,
    quarantine_files: list[Path],
    ledger_hashes: dict[str, str],
    quality: dict | None,
    max_per_source: int | None,
) -> str:
    """The card's markdown; `sources` maps a source name to its `SourceTerms`."""
    scores = markdown_table(["score statistic", "value"], _quality_rows(quality)) if quality else []
    lines = [
        "# Dataset card: Pixelated Empathy support conversations",
        "",
        BOLD_DISCLAIMER,
        "",
        "## What is released",
        "",
        *_release_lines(release, export_stats),
        "",
        "## Sources and licences",
        "",
        *sources_table(release, sources),
        "",
        "## Version",
        "",
        *_version_lines(release, ledger_hashes),
        "",
        "## How the released data was selected",
        "",
        *_funnel_lines(ledgers, quarantine_files, split_stats),
        "",
        "## Score distributions (scored table, before selection)",
        "",
        *(scores or ["No quality scores in this version."]),
        "",
        "## Known limits",
        "",
        *(f"- {limit}" for limit in known_limits(release, sources, max_per_source)),
        "",
        "## Machine-readable counts",
        "",
        RELEASE_BLOCK,
        json.dumps(release, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)
