"""A tiny end-to-end fine-tuning run (seconds on CPU), registered in a throwaway MLflow store."""

import math

import mlflow
import numpy as np
import pandas as pd
import pytest

from pixelated.core.config import MlflowConfig, build_config, read_params
from pixelated.core.hashing import dvc_md5
from pixelated.modeling.finetune import best_epoch, fit, resolve_device, validation_scores
from pixelated.modeling.retrieval import encode_pairs
from pixelated.modeling.train import TrainStageConfig
from pixelated.reporting.tracking import log_history, log_registered_sentence_model, stage_run
from tests.paths import REPO

TOPICS = [
    ("I can't sleep before my exams.", "Exam stress keeps many students awake; a wind-down routine helps."),
    ("My dog died last week.", "Losing a pet is real grief, and missing your dog is natural."),
    ("My boss shouts at me.", "Being shouted at work is draining; could HR or a union help?"),
    ("I feel lonely in a new city.", "Moving cities is isolating at first; clubs can help you meet people."),
    ("My partner and I argue daily.", "Daily arguments are exhausting; counselling may help you both."),
    ("I can't stop checking my phone.", "Screen habits are hard to break; leave the phone in another room."),
    ("My mother is very ill.", "Caring for a sick parent is heavy; do you have support for yourself?"),
    ("I failed my driving test again.", "Failing twice is frustrating, and many pass on a later try."),
]


@pytest.fixture
def pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {"conversation_id": [f"{i:016x}" for i in range(len(TOPICS))]}
        | {"context": [c for c, _ in TOPICS], "response": [r for _, r in TOPICS]}
    )


# the configured recipe, shrunk to eight pairs on the CPU
CFG = build_config(TrainStageConfig, read_params(REPO / "params.yaml")).train.model_copy(
    update={
        "seed": 1,
        "device": "cpu",
        "max_seq_length": 32,
        "batch_size": 4,
        "learning_rate": 2e-4,
        "weight_decay": 0.0,
        "val_candidates": 8,
        "eval_batch_size": 8,
    }
)
ONE_EPOCH = CFG.model_copy(update={"epochs": 1})


def test_tiny_training_run_learns_and_returns_the_best_epoch(pairs):
    model, history = fit(pairs, pairs, CFG)
    assert [row["epoch"] for row in history][:2] == [0, 1] and history[0]["train_loss"] is None
    assert all(math.isfinite(row["train_loss"]) for row in history[1:])
    # memorising its own validation set: the in-batch loss falls
    assert min(row["val_loss"] for row in history[1:]) < history[0]["val_loss"]
    best = best_epoch(history)
    returned = validation_scores(model, pairs, CFG)
    assert returned["mrr"] == pytest.approx(best["val_mrr"]) and returned["loss"] == pytest.approx(
        best["val_loss"]
    )
    assert model.max_seq_length == CFG.max_seq_length
    queries, responses = encode_pairs(model, pairs, 8)
    assert queries.shape == responses.shape == (len(pairs), 384)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-4)  # normalized embeddings


def test_a_recall_tie_with_a_better_mrr_is_an_improvement(pairs, monkeypatch):
    """With patience 1, a tie on recall@1 that improves MRR keeps training (the untuned
    weights are not kept just because 300 queries tie on recall@1)."""
    scores = iter([(0.5, 0.60), (0.5, 0.70), (0.5, 0.65)])
    monkeypatch.setattr(
        "pixelated.modeling.finetune.validation_scores",
        lambda *_: (
            dict(zip(("recall_at_1", "mrr"), next(scores), strict=True)) | {"recall_at_5": 1, "loss": 1}
        ),
    )
    _, history = fit(pairs, pairs, CFG.model_copy(update={"epochs": 2, "patience": 1}))
    assert [row["val_mrr"] for row in history] == [0.60, 0.70, 0.65]  # epoch 2 ran
    assert best_epoch(history)["epoch"] == 1


@pytest.mark.slow
def test_fixed_seed_gives_the_same_curve(pairs):
    _, first = fit(pairs, pairs, ONE_EPOCH)
    _, second = fit(pairs, pairs, ONE_EPOCH)
    assert [r["epoch"] for r in first] == [r["epoch"] for r in second] == [0, 1]
    for key in ("train_loss", "val_loss", "val_mrr"):
        assert first[1][key] == pytest.approx(second[1][key], abs=1e-5)


def test_auto_device_is_cpu_without_a_gpu():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_model_is_registered_with_the_data_version(pairs, tmp_path):
    from pixelated.core.embed import load_sentence_model

    cfg = MlflowConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=str(tmp_path / "mlruns"),
        experiment="test",
    )
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.parquet").write_bytes(b"rows")
    with stage_run("train", cfg, params={"train": {"epochs": 1}}, inputs=[splits]) as run:
        log_history([{"epoch": 0, "val_recall_at_1": 0.2}, {"epoch": 1, "val_recall_at_1": 0.5}])
        version = log_registered_sentence_model(
            load_sentence_model(), "selector", "candidate", data_version=dvc_md5(splits), description="test"
        )
    client = mlflow.MlflowClient(cfg.tracking_uri)
    by_alias = client.get_model_version_by_alias("selector", "candidate")
    assert str(by_alias.version) == version
    assert by_alias.tags["data_version"] == dvc_md5(splits)
    assert dvc_md5(splits).endswith(".dir")
    assert run.info.run_id == by_alias.run_id
    steps = client.get_metric_history(run.info.run_id, "val_recall_at_1")
    assert [(m.step, m.value) for m in steps] == [(0, 0.2), (1, 0.5)]
    loaded = mlflow.sentence_transformers.load_model("models:/selector@candidate")
    assert loaded.encode(["hello"]).shape == (1, 384)
