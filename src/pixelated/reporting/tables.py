"""The model report tables (training curve, recall@k, fairness), checked before they are written.

They live apart from schema.py and tableio.py on purpose: those are deps of every data
stage, and a change to a model report must not re-run ingest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from pixelated.core import csvsafe

_unit = [pa.Check.ge(0), pa.Check.le(1)]
_RANK_METRIC_COLUMNS = {
    "recall_at_1": pa.Column(float, _unit),
    "recall_at_5": pa.Column(float, _unit),
    "mrr": pa.Column(float, _unit),
}

TrainingCurveSchema = pa.DataFrameSchema(
    {
        "epoch": pa.Column(int, pa.Check.ge(0), unique=True),
        "train_loss": pa.Column(float, pa.Check.ge(0), nullable=True),  # none before epoch 1
        "val_recall_at_1": pa.Column(float, _unit),
        "val_recall_at_5": pa.Column(float, _unit),
        "val_mrr": pa.Column(float, _unit),
        "val_loss": pa.Column(float, pa.Check.ge(0)),
    },
    strict=True,
    ordered=True,
    name="training_curve",
)

RecallCurveSchema = pa.DataFrameSchema(
    {"k": pa.Column(int, pa.Check.ge(1), unique=True)},
    checks=[
        pa.Check(lambda df: df.drop(columns="k").ge(0).all(axis=None), name="recalls_in_unit_range"),
        pa.Check(lambda df: df.drop(columns="k").le(1).all(axis=None), name="recalls_in_unit_range"),
        pa.Check(
            lambda df: df.sort_values("k").drop(columns="k").diff().fillna(0).ge(0).all(axis=None),
            name="recall_grows_with_k",
        ),
    ],
    strict=False,  # one float column per model
    name="recall_at_k",
)

FairnessSchema = pa.DataFrameSchema(
    {
        "attribute": pa.Column(str, pa.Check.isin(["source", "emotion_type", "problem_type", "topic"])),
        "group": pa.Column(str),
        "model": pa.Column(str),
        "n": pa.Column(int, pa.Check.ge(1)),
        **_RANK_METRIC_COLUMNS,
    },
    strict=True,
    ordered=True,
    name="fairness",
)


def write_validated_csv(frame: pd.DataFrame, path: str | Path, check: pa.DataFrameSchema) -> None:
    """A small report table as CSV (what `dvc plots` reads), checked by `check` first."""
    check.validate(frame, lazy=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    csvsafe.to_csv(frame, path, index=False, float_format="%.6g", lineterminator="\n")
