"""The canonical conversation table: one Arrow schema for storage, pandera schemas for checks.

Every stage reads and writes this table (later stages add columns). The Arrow schema fixes
the on-disk types so Parquet files are byte-stable; the pandera schemas are the executable
documentation of what a valid row is, and every stage output passes one before it is written.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

ROLES = ("seeker", "helper", "system")
SPLITS = ("train", "validation", "test")
DECISION_SOURCES = ("automatic", "review")
# dedup cluster table `method`: unique (no duplicate), kept (kept one of a cluster), or how it was found
DEDUP_METHODS = ("exact", "near", "semantic")
CLUSTER_METHODS = ("unique", "kept", *DEDUP_METHODS)

TURN_TYPE = pa_arrow.struct(
    [
        ("role", pa_arrow.string()),
        ("text", pa_arrow.string()),
        ("strategy", pa_arrow.string()),  # ESConv support strategy of a helper turn
        ("label", pa_arrow.string()),  # other per-turn label: intent, dialogue act, MI code
        ("feedback", pa_arrow.int32()),  # seeker's per-turn rating (ESConv), 1-5
    ]
)
TURN_FIELDS = tuple(field.name for field in TURN_TYPE)

# Source metadata promoted to typed columns; anything else a reader maps lands in `extra` (JSON).
METADATA_COLUMNS: dict[str, pa_arrow.DataType] = {
    "emotion_type": pa_arrow.string(),
    "problem_type": pa_arrow.string(),
    "experience_type": pa_arrow.string(),
    "situation": pa_arrow.string(),
    "topic": pa_arrow.string(),
    "upvotes": pa_arrow.int64(),
    "views": pa_arrow.int64(),
    "therapist_id": pa_arrow.string(),
    "initial_emotion_intensity": pa_arrow.int64(),
    "final_emotion_intensity": pa_arrow.int64(),
    "seeker_empathy": pa_arrow.int64(),
    "seeker_relevance": pa_arrow.int64(),
    "supporter_relevance": pa_arrow.int64(),
}

_ARROW_TYPES = {
    "string": pa_arrow.string(),
    "bool": pa_arrow.bool_(),
    "int32": pa_arrow.int32(),
    "int64": pa_arrow.int64(),
    "float64": pa_arrow.float64(),
}


def arrow_fields(spec: str) -> list[tuple[str, pa_arrow.DataType]]:
    """Fields from "name name:type ..." (type defaults to string), in order: a table's storage
    layout on one line."""
    names = (item.partition(":") for item in spec.split())
    return [(name, _ARROW_TYPES[kind or "string"]) for name, _, kind in names]


CONVERSATION_SCHEMA = pa_arrow.schema(
    [
        *arrow_fields(
            "conversation_id source source_record_id thread_id license commercial_use:bool "
            "consent:bool consent_basis source_file source_line:int64 source_sha256 source_split"
        ),
        ("turns", pa_arrow.list_(TURN_TYPE)),
        *arrow_fields("n_turns:int32 content_hash"),
        *METADATA_COLUMNS.items(),
        ("extra", pa_arrow.string()),
    ]
)

QUARANTINE_SCHEMA = pa_arrow.schema(
    arrow_fields("stage source source_file source_line:int64 conversation_id reason detail excerpt")
)

_HEX16 = r"^[0-9a-f]{16}$"


def hex_id(unique: bool = False) -> pa.Column:
    """A 16-hex-character id column (stable_id): conversation, cluster, group ids."""
    return pa.Column(pd.StringDtype(), pa.Check.str_matches(_HEX16), unique=unique)


_ARROW_TO_PANDERA = {
    pa_arrow.string(): pd.StringDtype(),
    pa_arrow.int64(): pd.Int64Dtype(),
}


def _metadata_columns() -> dict[str, pa.Column]:
    return {
        name: pa.Column(_ARROW_TO_PANDERA[dtype], nullable=True, required=True)
        for name, dtype in METADATA_COLUMNS.items()
    }


def _turns_are_records(turns) -> bool:
    """Structural check: every turn is a mapping with exactly the canonical fields."""
    return all(isinstance(t, dict) and set(t) == set(TURN_FIELDS) for t in turns)


def _structure_columns() -> dict[str, pa.Column]:
    string = pd.StringDtype()
    return {
        "conversation_id": pa.Column(string, pa.Check.str_matches(_HEX16), unique=True),
        "source": pa.Column(string, pa.Check.str_length(min_value=1)),
        "source_record_id": pa.Column(string),
        "thread_id": pa.Column(string),
        "license": pa.Column(string, pa.Check.str_length(min_value=1)),
        "commercial_use": pa.Column(bool),
        "consent": pa.Column(bool),
        "consent_basis": pa.Column(string),
        "source_file": pa.Column(string),
        "source_line": pa.Column(pd.Int64Dtype(), pa.Check.ge(1)),
        "source_sha256": pa.Column(string, pa.Check.str_matches(r"^[0-9a-f]{64}$")),
        "source_split": pa.Column(string, nullable=True),
        "turns": pa.Column(
            object,
            pa.Check(_turns_are_records, element_wise=True, name="turns_are_records"),
        ),
        "n_turns": pa.Column(pd.Int32Dtype(), pa.Check.ge(0)),
        "content_hash": pa.Column(string, pa.Check.str_matches(_HEX16)),
        **_metadata_columns(),
        "extra": pa.Column(string),
    }


def _n_turns_matches(df: pd.DataFrame) -> pd.Series:
    return df["turns"].map(len) == df["n_turns"]


# What `ingest` guarantees: the structure is canonical, whatever the content.
IngestedSchema = pa.DataFrameSchema(
    _structure_columns(),
    checks=[pa.Check(_n_turns_matches, name="n_turns_matches_turns")],
    strict=True,
    ordered=True,
    name="ingested_conversations",
)


def conversation_schema(turn_rules: dict) -> pa.DataFrameSchema:
    """What `validate` guarantees: the structure plus every content rule in `turn_rules`.

    `turn_rules` maps a rule name to a function turns -> problem text or None (see rules.py),
    so the same function both gates the schema and explains a quarantined row.
    """
    rule_checks = [
        pa.Check(
            lambda turns, rule=rule: rule(turns) is None,
            element_wise=True,
            name=name,
        )
        for name, rule in turn_rules.items()
    ]
    columns = _structure_columns()
    columns["turns"] = pa.Column(object, [*columns["turns"].checks, *rule_checks])
    return pa.DataFrameSchema(
        columns,
        checks=IngestedSchema.checks,
        strict=True,
        ordered=True,
        name="canonical_conversations",
    )


QuarantineSchema = pa.DataFrameSchema(
    {
        "stage": pa.Column(pd.StringDtype()),
        "source": pa.Column(pd.StringDtype(), nullable=True),
        "source_file": pa.Column(pd.StringDtype(), nullable=True),
        "source_line": pa.Column(pd.Int64Dtype(), nullable=True),
        "conversation_id": pa.Column(pd.StringDtype(), nullable=True),
        "reason": pa.Column(pd.StringDtype(), pa.Check.str_matches(r"^[a-z0-9_]+$")),
        "detail": pa.Column(pd.StringDtype()),
        "excerpt": pa.Column(pd.StringDtype(), nullable=True),
    },
    strict=True,
    ordered=True,
    name="quarantine",
)


SPLIT_ASSIGNMENT_SCHEMA = pa_arrow.schema(arrow_fields("conversation_id group split fold:int64"))

SplitAssignmentSchema = pa.DataFrameSchema(
    {
        "conversation_id": hex_id(unique=True),
        "group": pa.Column(pd.StringDtype()),
        "split": pa.Column(pd.StringDtype(), pa.Check.isin(SPLITS)),
        "fold": pa.Column(pd.Int64Dtype(), pa.Check.ge(0), nullable=True),
    },
    checks=[
        pa.Check(lambda df: df["fold"].isna() | (df["split"] != "test"), name="test_rows_have_no_fold"),
        pa.Check(lambda df: df.groupby("group")["split"].transform("nunique") == 1, name="group_on_one_side"),
    ],
    strict=True,
    ordered=True,
    name="split_assignments",
)


# --- scores (score stage) and selection (select stage): the canonical table plus columns ---

SCORE_METRICS = (
    "therapeutic_accuracy",
    "coherence",
    "emotional_authenticity",
    "clinical_compliance",
    "personality_consistency",
    "language_quality",
)
SCORE_FIELDS: list[tuple[str, pa_arrow.DataType]] = [
    *((name, pa_arrow.float64()) for name in SCORE_METRICS),
    ("quality", pa_arrow.float64()),
    ("safety", pa_arrow.float64()),
    ("safety_reason", pa_arrow.string()),
    ("crisis_kinds", pa_arrow.string()),  # comma-separated crisis.KINDS found in seeker turns
    ("cssrs_level", pa_arrow.int64()),  # 0 none, 1 wish to be dead ... 6 behaviour
    ("crisis_turns", pa_arrow.string()),  # comma-separated canonical turn indices
    ("compliance_violations", pa_arrow.string()),
]
SCORED_SCHEMA = pa_arrow.schema([*CONVERSATION_SCHEMA, *SCORE_FIELDS])
SELECTION_FIELDS: list[tuple[str, pa_arrow.DataType]] = [
    ("quality_tier", pa_arrow.string()),  # highest tier reached: production|recommended|minimum|below
    ("decision_source", pa_arrow.string()),  # automatic | review
]
SELECTED_SCHEMA = pa_arrow.schema([*SCORED_SCHEMA, *SELECTION_FIELDS])
TIERS = ("production", "recommended", "minimum", "below")


def _unit_interval() -> pa.Column:
    return pa.Column(float, [pa.Check.ge(0), pa.Check.le(1)])


def _comma_list(pattern: str) -> pa.Column:
    return pa.Column(pd.StringDtype(), pa.Check.str_matches(rf"^({pattern}(,{pattern})*)?$"))


def scored_schema(canonical: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The canonical schema plus every score column, each in range."""
    columns = {
        **canonical.columns,
        **{name: _unit_interval() for name in (*SCORE_METRICS, "quality", "safety")},
        "safety_reason": pa.Column(pd.StringDtype(), pa.Check.str_matches(r"^[a-z_]+$")),
        "crisis_kinds": _comma_list("[a-z_]+"),
        "cssrs_level": pa.Column(pd.Int64Dtype(), pa.Check.in_range(0, 6)),
        "crisis_turns": _comma_list(r"\d+"),
        "compliance_violations": _comma_list("[a-z_]+"),
    }
    return pa.DataFrameSchema(
        columns, checks=canonical.checks, strict=True, ordered=True, name="scored_conversations"
    )


def selected_schema(canonical: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """Scored rows that passed selection, with the tier they reached and who decided."""
    columns = {
        **scored_schema(canonical).columns,
        "quality_tier": pa.Column(pd.StringDtype(), pa.Check.isin(TIERS)),
        "decision_source": pa.Column(pd.StringDtype(), pa.Check.isin(DECISION_SOURCES)),
    }
    return pa.DataFrameSchema(
        columns, checks=canonical.checks, strict=True, ordered=True, name="selected_conversations"
    )


DEDUP_CLUSTER_SCHEMA = pa_arrow.schema(
    arrow_fields("conversation_id cluster_id group_id kept:bool method kept_id")
)

# One row per dedup input conversation: its duplicate cluster (removal unit) and its group
# (cluster joined with shared seeker turns and source thread: the unit the split keeps together).
# Checked per written chunk; across chunks, unique ids and one kept per cluster are checked in
# SQL over the whole table (`dedup.clusters.ClusterTable`).
DedupClusterSchema = pa.DataFrameSchema(
    {
        "conversation_id": hex_id(unique=True),
        "cluster_id": hex_id(),
        "group_id": hex_id(),
        "kept": pa.Column(bool),
        "method": pa.Column(pd.StringDtype(), pa.Check.isin(CLUSTER_METHODS)),
        "kept_id": hex_id(),
    },
    checks=[
        pa.Check(
            lambda df: df["kept"] == (df["kept_id"] == df["conversation_id"]), name="kept_is_own_keeper"
        ),
        pa.Check(
            lambda df: df.groupby("cluster_id")["kept"].transform("sum") <= 1, name="one_kept_per_cluster"
        ),
    ],
    strict=True,
    ordered=True,
    name="dedup_clusters",
)
