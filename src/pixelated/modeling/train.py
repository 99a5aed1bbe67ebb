"""train: fine-tune MiniLM as a response selector (seeker context -> helper response) on the
train split, early-stopped on validation. What curation buys is measured in `evaluate`
(modeling/ablation.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pixelated.core.config import Config, ExecutorConfig, MlflowConfig
from pixelated.core.hashing import dvc_md5
from pixelated.modeling.config import TrainConfig
from pixelated.modeling.finetune import best_epoch, fit
from pixelated.modeling.retrieval import load_sample, sample_rows
from pixelated.reporting.tables import TrainingCurveSchema, write_validated_csv
from pixelated.reporting.tracking import log_history, log_registered_sentence_model, stage_run


class TrainStageConfig(Config):
    train: TrainConfig
    executor: ExecutorConfig = ExecutorConfig()
    mlflow: MlflowConfig


@dataclass(frozen=True)
class TrainPaths:
    splits: Path  # folder with <split>.parquet
    output: Path  # model folder
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
    """Fit on at most train.max_pairs of `pairs`; the best epoch's model lands in `output` with
    a training.json beside it (the config and curve that produced it)."""
    pairs = sample_rows(pairs, cfg.max_pairs, cfg.seed)
    model, history = fit(pairs, val_pairs, cfg)
    model.save(str(output))
    best = best_epoch(history)
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


def run(cfg: TrainStageConfig, paths: TrainPaths) -> None:
    train = cfg.train
    train_pairs, available = load_sample(
        paths.splits / "train.parquet",
        train,
        train.pairs_per_conversation,
        train.max_pairs,
        train.seed,
        cfg.executor,
    )
    val_pairs, _ = load_sample(
        paths.splits / "validation.parquet", train, 1, train.val_max_queries, train.seed, cfg.executor
    )
    curated = train_one("curated", train_pairs, val_pairs, train, paths.output)  # sampled already
    write_validated_csv(pd.DataFrame(curated.history), paths.curve, TrainingCurveSchema)
    metrics = {**curated.summary, "validation_queries": len(val_pairs), "available_pairs": available}
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log_training(cfg, paths, curated, metrics)


def log_training(cfg: TrainStageConfig, paths: TrainPaths, curated: Trained, metrics: dict) -> None:
    """The curve and the metrics into one MLflow run; the model is registered with the data
    version (the dvc.lock hash of the splits) it was trained on."""
    import mlflow

    data_version = dvc_md5(paths.splits)
    with stage_run("train", cfg.mlflow, params={"train": cfg.train.model_dump()}, inputs=[paths.splits]):
        log_history(curated.history)
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
