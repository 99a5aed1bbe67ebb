"""train: fine-tune MiniLM as a response selector (seeker context -> helper response) on the
train split, early-stopped on validation; the same recipe on un-curated data is the ablation
that measures what curation buys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.config import Config, ExecutorConfig, MlflowConfig
from pixelated.core.hashing import dvc_md5
from pixelated.core.tableio import to_pandas
from pixelated.modeling.config import TrainConfig
from pixelated.modeling.finetune import fit
from pixelated.modeling.retrieval import HELD_OUT_KEYS, exclude_held_out, load_pairs, sample_rows
from pixelated.reporting.tables import TrainingCurveSchema, write_validated_csv
from pixelated.reporting.tracking import log_history, log_registered_sentence_model, stage_run


class TrainStageConfig(Config):
    train: TrainConfig
    executor: ExecutorConfig = ExecutorConfig()
    mlflow: MlflowConfig


@dataclass(frozen=True)
class TrainPaths:
    splits: Path  # folder with <split>.parquet
    uncurated: Path  # the table before dedup and selection, for the ablation
    clusters: Path  # dedup cluster table (conversation_id -> group_id)
    output: Path  # model folder
    ablation_output: Path  # model trained on `uncurated`
    metrics: Path
    curve: Path  # CSV: epoch vs loss and validation metrics


@dataclass
class Trained:
    model: object
    history: list[dict]
    summary: dict


def train_one(
    name: str, pairs: pd.DataFrame, val_pairs: pd.DataFrame, cfg: TrainConfig, output: Path
) -> Trained:
    """Fit on at most train.max_pairs of `pairs`; the best checkpoint lands in `output` with a
    training.json beside it (the config and curve that produced it)."""
    pairs = sample_rows(pairs, cfg.max_pairs, cfg.seed)
    model, history = fit(pairs, val_pairs, cfg, checkpoint=output)
    best = max(history, key=lambda row: (row["val_recall_at_1"], -row["epoch"]))
    summary = {
        "model": name,
        "pairs": len(pairs),
        "conversations": int(pairs["conversation_id"].nunique()),
        "epochs_run": history[-1]["epoch"],
        "best_epoch": best["epoch"],
        "best": {k: v for k, v in best.items() if k.startswith("val_")},
    }
    config = {"train": cfg.model_dump(), **summary, "history": history}
    (output / "training.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return Trained(model, history, summary)


def uncurated_pairs(cfg: TrainStageConfig, paths: TrainPaths) -> tuple[pd.DataFrame, int]:
    """Pairs of the un-curated table minus everything held out for scoring (validation and test
    conversations, their threads, contents and dedup groups); and how many were excluded."""
    held_out = pd.concat(
        [
            to_pandas(pq.read_table(paths.splits / f"{s}.parquet", columns=list(HELD_OUT_KEYS)))
            for s in ("validation", "test")
        ]
    )
    groups = to_pandas(pq.read_table(paths.clusters, columns=["conversation_id", "group_id"]))
    pairs = load_pairs(paths.uncurated, cfg.train, cfg.train.pairs_per_conversation, cfg.executor)
    return exclude_held_out(pairs, held_out, groups.set_index("conversation_id")["group_id"])


def run(cfg: TrainStageConfig, paths: TrainPaths) -> None:
    train = cfg.train
    train_pairs = load_pairs(
        paths.splits / "train.parquet", train, train.pairs_per_conversation, cfg.executor
    )
    val_pairs = sample_rows(
        load_pairs(paths.splits / "validation.parquet", train, 1, cfg.executor),
        train.val_max_queries,
        train.seed,
    )
    curated = train_one("curated", train_pairs, val_pairs, train, paths.output)
    ablation_pairs, excluded = uncurated_pairs(cfg, paths)
    ablation = train_one("uncurated", ablation_pairs, val_pairs, train, paths.ablation_output)

    write_validated_csv(pd.DataFrame(curated.history), paths.curve, TrainingCurveSchema)
    metrics = {
        **curated.summary,
        "validation_queries": len(val_pairs),
        "available_pairs": len(train_pairs),
        "ablation": {
            **ablation.summary,
            "available_pairs": len(ablation_pairs),
            "excluded_conversations": excluded,
        },
    }
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log_training(cfg, paths, curated, ablation, metrics)


def log_training(
    cfg: TrainStageConfig, paths: TrainPaths, curated: Trained, ablation: Trained, metrics: dict
) -> None:
    """Both curves and the metrics into one MLflow run; the curated model is registered with
    the data version (the dvc.lock hash of the splits) it was trained on."""
    import mlflow

    data_version = dvc_md5(paths.splits)
    inputs = [paths.splits, paths.uncurated]
    with stage_run("train", cfg.mlflow, params={"train": cfg.train.model_dump()}, inputs=inputs):
        log_history(curated.history)
        log_history(ablation.history, prefix="ablation.")
        mlflow.log_dict(metrics, "train.json")
        log_registered_sentence_model(
            curated.model,
            cfg.train.registry.name,
            cfg.train.registry.alias,
            data_version=data_version,
            description=f"MiniLM response selector fine-tuned on {paths.splits.as_posix()} {data_version} "
            "(dvc.lock md5)",
            tags={"best_epoch": str(curated.summary["best_epoch"])},
        )
