"""The clinician review set: which conversations a clinician reads, and the page and CSV they
read and fill in. A verdict written back to reviews/verdicts.csv overrides the gates
(`gates.read_verdicts`) on the next `dvc repro`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup

from pixelated.core import csvsafe
from pixelated.core.hashing import seeded_key_sql
from pixelated.core.schema import SCORED_SCHEMA
from pixelated.core.shards import parts
from pixelated.core.tableio import parquet_file, to_pandas
from pixelated.selection.gates import KEEPS_AT, VERDICT_COLUMNS

_REVIEW_SAMPLE = """
WITH sampled AS (
    SELECT conversation_id FROM (
        SELECT conversation_id,
            row_number() OVER (PARTITION BY source, quality_tier
                ORDER BY {seeded_order}) AS place,
            count(*) OVER (PARTITION BY source, quality_tier) AS stratum
        FROM decisions)
    WHERE place <= greatest(1, ceil(CAST($fraction AS DOUBLE) * stratum)))
SELECT decisions.* EXCLUDE ({decision_only}),
    concat_ws('+', CASE WHEN sampled.conversation_id IS NOT NULL THEN 'sample' END,
        CASE WHEN crisis_kinds <> '' THEN 'crisis_flag' END,
        CASE WHEN safety < $safety_min THEN 'low_safety' END) AS review_reason
FROM decisions LEFT JOIN sampled USING (conversation_id)
WHERE review_reason <> ''
ORDER BY conversation_id
"""


def review_sample(
    decisions: duckdb.DuckDBPyConnection, fraction: float, seed: int, safety_min: float
) -> pd.DataFrame:
    """Conversations for clinician review, with why: a `fraction` sample stratified by source x
    tier (at least one per stratum, the first in `hashing.seeded_key` order), every crisis
    flag, every safety drop; their rows of select's `decisions` table (see
    `select.decision_table`), in id order."""
    query = _REVIEW_SAMPLE.format(
        decision_only=", ".join(["decision_source", *KEEPS_AT.values()]),
        seeded_order=seeded_key_sql("$seed", "conversation_id"),
    )
    params = {"seed": seed, "fraction": fraction, "safety_min": safety_min}
    return to_pandas(decisions.sql(query, params=params).to_arrow_table())


def verdict_template(review: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """review.csv: one row per conversation to review, verdict columns blank unless already given."""
    out = review[
        ["conversation_id", "source", "review_reason", "quality", "quality_tier", "safety", "safety_reason",
         "crisis_kinds", "cssrs_level", "auto_decision"]
    ].copy()  # fmt: skip
    for column in VERDICT_COLUMNS[1:]:
        given = out["conversation_id"].map(verdicts[column]) if len(verdicts) else None
        out[column] = given.fillna("") if given is not None else ""
    out[["quality", "safety"]] = out[["quality", "safety"]].round(3)
    return out


# Why a reviewer keeps or drops: written into the verdict's note as "<reason>: <note>", so the
# CSV keeps exactly the columns reviews/verdicts.csv has (gates.VERDICT_COLUMNS).
REVIEW_REASONS = (
    "crisis handled well",
    "crisis mishandled",
    "harmful or unsafe advice",
    "low quality support",
    "personal data left in",
    "not a support conversation",
    "automatic score wrong",
    "other",
)
_ASSETS = ("review.js", "review.css")


def review_set_id(conversation_ids) -> str:
    """A short id for this set of conversations: the page saves progress under it, so a page
    built from a different sample never picks up another set's half-done verdicts."""
    joined = "\n".join(sorted(conversation_ids)).encode()
    return hashlib.sha256(joined).hexdigest()[:16]


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _page_assets() -> dict[str, Markup | str]:
    """The inline script and style, and a Content-Security-Policy that allows exactly them:
    the page runs from a file, loads nothing and executes nothing else."""
    folder = importlib.resources.files("pixelated.selection").joinpath("templates")
    script, style = (folder.joinpath(name).read_text() for name in _ASSETS)
    csp = (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return {"script": Markup(script), "style": Markup(style), "csp": Markup(csp)}  # no " in csp


def _prior_verdicts(verdicts: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Verdicts already in reviews/verdicts.csv: the page starts from them and exports them back,
    including those for conversations not in this review set, so its CSV can replace the file."""
    columns = list(VERDICT_COLUMNS[1:])
    return {str(cid): {c: str(row[c]) for c in columns} for cid, row in verdicts[columns].iterrows()}


def render_review_html(
    review: pd.DataFrame, metrics: tuple[str, ...], fraction: float, verdicts: pd.DataFrame | None = None
) -> str:
    """The review page of whole review rows (see `review_page`), as one string."""
    return "".join(review_page(page_rows([review]), review, metrics, fraction, verdicts))


def review_page(
    conversations: Iterable[dict],
    review: pd.DataFrame,
    metrics: tuple[str, ...],
    fraction: float,
    verdicts: pd.DataFrame | None = None,
) -> Iterator[str]:
    """The review page, a piece at a time: each conversation with its scores and flags, and a
    keep/drop form whose verdicts are saved in the browser and exported as a reviews/verdicts.csv
    file. `conversations` are `review`'s rows whole, from `page_rows`, read as the page is written."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pixelated.selection", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
    )
    prior = _prior_verdicts(verdicts if verdicts is not None else pd.DataFrame(columns=VERDICT_COLUMNS[1:]))
    return env.get_template("review.html.j2").generate(
        conversations=conversations,
        count=len(review),
        metrics=metrics,
        fraction_percent=f"{100 * fraction:g}",
        set_id=review_set_id(review["conversation_id"]),
        reasons=REVIEW_REASONS,
        verdict_columns=VERDICT_COLUMNS,
        prior_verdicts=prior,
        **_page_assets(),
    )


def page_rows(batches: Iterable[pd.DataFrame]) -> Iterator[dict]:
    """The template's view of whole review rows: turns as a list, crisis turns as a set."""
    for batch in batches:
        for row in batch.to_dict("records"):
            row["turns"] = list(row["turns"])
            row["crisis_turn_set"] = {int(i) for i in row["crisis_turns"].split(",") if i}
            yield row


REVIEW_BUCKET_ROWS = 2048  # review rows sorted in memory at a time


def review_batches(review: pd.DataFrame, scored: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """`review`'s rows whole, in its (conversation_id) order, a bucket of REVIEW_BUCKET_ROWS
    consecutive ids at a time (at least one batch, maybe empty), with the scored columns the
    decisions did not read (turns, safety reason, provenance).

    The review set holds every crisis flag, so it grows with the data: its rows are never held
    at once. One pass over the scored table appends each review row to its bucket's file (by
    where its id falls among every REVIEW_BUCKET_ROWS-th id); each bucket is then read and
    sorted alone. DuckDB's ORDER BY of these rows ran out of its memory cap at 1.9M
    conversations: the turns are a large sort payload. The bucket files are Arrow IPC
    streams: a Parquet writer keeps every row group's metadata until it closes, and with a
    row group per bucket per scored batch that grew with the square of the data (860 MB at
    1.9M conversations)."""
    ids = review["conversation_id"].to_numpy(dtype=object)
    bounds = ids[REVIEW_BUCKET_ROWS::REVIEW_BUCKET_ROWS]  # the first id of every later bucket
    names = ["conversation_id", *(name for name in SCORED_SCHEMA.names if name not in review.columns)]
    wanted = pa.array(ids, pa.string())
    with tempfile.TemporaryDirectory(prefix="review-") as folder:
        files = [Path(folder) / f"{bucket}.arrows" for bucket in range(len(bounds) + 1)]
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        try:
            for part in parts(scored):
                for batch in parquet_file(part).iter_batches(batch_size=batch_size, columns=names):
                    rows = batch.filter(pc.is_in(batch["conversation_id"], value_set=wanted))
                    bucket_of = np.searchsorted(bounds, rows["conversation_id"].to_pylist(), side="right")
                    for bucket in np.unique(bucket_of):
                        if bucket not in writers:
                            writers[bucket] = pa.ipc.new_stream(files[bucket], rows.schema)
                        writers[bucket].write_batch(rows.filter(pa.array(bucket_of == bucket)))
        finally:
            for writer in writers.values():
                writer.close()
        start, empty = 0, SCORED_SCHEMA.empty_table().select(names)
        for bucket, file in enumerate(files):
            table = pa.ipc.open_stream(file).read_all() if bucket in writers else empty
            rows = to_pandas(table).sort_values("conversation_id").reset_index(drop=True)
            decided = review.iloc[start : start + len(rows)]
            start += len(rows)
            if decided["conversation_id"].tolist() != rows["conversation_id"].tolist():
                raise ValueError(f"{scored}: the review's conversations are not all in the scored table once")
            yield decided.merge(rows, on="conversation_id")
    if start != len(review):
        raise ValueError(f"{scored}: {len(review) - start} review conversations are not in the scored table")


def write_review(
    directory: Path,
    review: pd.DataFrame,
    batches: Iterable[pd.DataFrame],
    verdicts: pd.DataFrame,
    metrics: tuple[str, ...],
    fraction: float,
) -> None:
    """data/review: review.html (what to read) written as `batches` of whole review rows
    (`review_batches`) stream in, and review.csv (verdicts to fill in), built from their
    template columns on the way."""
    directory.mkdir(parents=True, exist_ok=True)
    templates = []

    def conversations() -> Iterator[dict]:
        for batch in batches:
            templates.append(verdict_template(batch, verdicts))
            yield from page_rows([batch])

    with open(directory / "review.html", "w") as page:
        page.writelines(review_page(conversations(), review, metrics, fraction, verdicts))
    csvsafe.to_csv(pd.concat(templates, ignore_index=True), directory / "review.csv", index=False)
