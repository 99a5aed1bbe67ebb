"""Fine-tune a sentence-transformers bi-encoder as a response selector.

A short explicit loop around the library's pieces (MultipleNegativesRankingLoss for in-batch
negatives, transformers' linear warmup/decay schedule, AdamW) rather than the library's
Trainer: that needs `accelerate`, writes a checkpoint folder per save step and evaluates
with its own metrics, while here early stopping must use the same candidate-set recall@1
that `evaluate` reports. After each epoch the model is scored on validation; the weights of
an improvement are kept, `patience` epochs without one stop training, and the best weights
are what is returned. An improvement is a higher recall@1, or the same recall@1 with a higher
MRR: a few hundred validation queries tie on recall@1 often enough that ties alone would
keep the untuned weights while every finer measure improved.
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pixelated.core.embed import load_sentence_model
from pixelated.core.executor import in_fresh_process
from pixelated.core.progress import progress
from pixelated.modeling.config import TrainConfig
from pixelated.modeling.retrieval import (
    candidate_ranks,
    candidate_sets,
    encode_pairs,
    rank_metrics,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def resolve_device(name: str) -> str:
    """`auto` means cuda when a GPU is present, else cpu."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def validation_scores(model, pairs: pd.DataFrame, cfg: TrainConfig) -> dict[str, float]:
    """recall@1/5 and MRR on seeded candidate sets, plus the in-batch loss, from one encoding."""
    import torch

    model.eval()
    queries, responses = encode_pairs(model, pairs, cfg.eval_batch_size)
    candidates = candidate_sets(len(pairs), cfg.val_candidates, cfg.seed)
    ranks = candidate_ranks(queries, responses, candidates)
    # the training loss on validation: the same in-batch softmax over batch_size-sized blocks
    size = cfg.batch_size
    blocks = [
        torch.from_numpy(queries[i : i + size] @ responses[i : i + size].T) * cfg.scale
        for i in range(0, len(pairs), size)
    ]
    losses = [torch.nn.functional.cross_entropy(b, torch.arange(len(b))).item() * len(b) for b in blocks]
    return {**rank_metrics(ranks), "loss": float(sum(losses) / max(len(pairs), 1))}


MMAP_THRESHOLD_BYTES = 4 << 20  # glibc malloc: larger blocks are mapped, and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def return_large_blocks_to_the_system() -> None:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD_BYTES, so a fit's large tensors are
    handed back when freed. By default glibc raises the threshold after each large free (up
    to 32 MB), and later activations then come from the heap, which keeps their pages: on the
    shared data evaluate's peak fell from 3,147 to 2,909 MB with this (2 seeds, no CV; 457 vs
    466 s; a 64 KB threshold gave 2,508 MB but took 51% longer). Same numbers either way; a
    no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def fit(
    train_pairs: pd.DataFrame, val_pairs: pd.DataFrame | None, cfg: TrainConfig, epochs: int | None = None
):
    """Fine-tune a fresh pretrained MiniLM on `train_pairs`; returns (model, history).

    `history` has one row per epoch (epoch 0 is the untuned model) with the mean training
    loss and, when `val_pairs` is given, validation recall@1/5, MRR and loss; the weights of
    the best epoch are kept in memory and restored at the end. Without validation every epoch
    runs and the last one is kept.
    """
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup, set_seed

    return_large_blocks_to_the_system()
    set_seed(cfg.seed)
    device = resolve_device(cfg.device)
    model = load_sentence_model(device=device)
    model.max_seq_length = cfg.max_seq_length
    loss = MultipleNegativesRankingLoss(model, scale=cfg.scale)
    epochs = cfg.epochs if epochs is None else epochs
    steps_per_epoch = math.ceil(len(train_pairs) / cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    total = max(epochs * steps_per_epoch, 1)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    rng = np.random.default_rng(cfg.seed)
    validating = val_pairs is not None and len(val_pairs) > 0

    def validate(epoch: int, train_loss: float | None) -> dict:
        row = {"epoch": epoch, "train_loss": train_loss}
        if validating:
            row.update({f"val_{k}": v for k, v in validation_scores(model, val_pairs, cfg).items()})
        log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items() if v is not None})
        return row

    history = [validate(0, None)]
    best, best_state, waited = _rank(history[0]), _weights(model) if validating else None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        batches = _batches(rng.permutation(len(train_pairs)), cfg.batch_size)
        running = [
            _step(model, loss, optimizer, scheduler, train_pairs, batch, device)
            for batch in progress(batches, f"epoch {epoch}", total=sum(map(len, batches)), unit="pairs")
        ]
        history.append(validate(epoch, float(np.mean(running)) if running else None))
        if not validating:
            continue
        if _rank(history[-1]) > best:
            best, best_state, waited = _rank(history[-1]), _weights(model), 0
            continue
        waited += 1
        if waited >= cfg.patience:
            log.info("early stop after epoch %d: no val recall@1 or MRR gain for %d epochs", epoch, waited)
            break
    if validating:
        model.load_state_dict(best_state)
    model.eval()
    return model, history


# what every fit's fresh process needs, imported once into the process each one forks from
_FIT_IMPORTS = ("torch", "sentence_transformers", __name__)


def fitted_then(
    then: Callable[[Any], T], train_pairs: pd.DataFrame, cfg: TrainConfig, epochs: int | None = None
) -> T:
    """`then(model)` of a model `fit` on `train_pairs` without validation, both in a fresh
    process (`then` picklable, such as a partial of a module function): what a fit leaves in
    the allocator is not kept. Run one after another in one process, evaluate's twelve fits
    each left about 90 MB more behind, and its peak grew to 3.8 GB on the shared data."""
    return in_fresh_process(_fit_then, then, train_pairs, cfg, epochs, preload=_FIT_IMPORTS)


def _fit_then(then: Callable[[Any], T], train_pairs: pd.DataFrame, cfg: TrainConfig, epochs: int | None) -> T:
    model, _ = fit(train_pairs, None, cfg, epochs)
    return then(model)


def _rank(row: dict) -> tuple | None:
    """How epochs compare on validation: recall@1, ties broken by MRR (None without validation)."""
    return (row["val_recall_at_1"], row["val_mrr"]) if "val_recall_at_1" in row else None


def best_epoch(history: list[dict]) -> dict:
    """The validated history row whose weights `fit` returns: the best, the earliest of equals."""
    return max(history, key=lambda row: (*_rank(row), -row["epoch"]))


def _weights(model) -> dict:
    """A copy of the model's weights, to restore the best epoch without a disk round trip."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    """`order` cut into batches; a batch of one has no in-batch negative to learn from."""
    return [b for b in (order[i : i + size] for i in range(0, len(order), size)) if len(b) > 1]


def _step(model, loss, optimizer, scheduler, pairs: pd.DataFrame, batch: np.ndarray, device: str) -> float:
    """One optimisation step on the (context, response) pairs at `batch`; returns its loss."""
    import torch
    from sentence_transformers.util import batch_to_device

    features = [
        batch_to_device(model.preprocess([pairs[column].iat[i] for i in batch]), device)
        for column in ("context", "response")
    ]
    value = loss(features, None)
    value.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return value.item()
