"""Evaluation protocols for the response selector: every model ranked on the same seeded
candidate sets, and cross-validation over the split's CV folds."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.tableio import to_pandas
from pixelated.modeling.finetune import fit
from pixelated.modeling.retrieval import (
    candidate_sets,
    embedding_similarity,
    load_pairs,
    positive_ranks,
    rank_metrics,
    sample_rows,
    tfidf_similarity,
)

log = logging.getLogger(__name__)

HEADLINE_KS = (1, 5)


def model_ranks(models: dict, pairs: pd.DataFrame, fit_texts: list[str], cfg: dict, seq_len: int, seed: int):
    """Rank of each query's response for every model on one shared set of candidate sets."""
    candidates = candidate_sets(len(pairs), int(cfg["candidates"]), seed)
    ranks = {"tfidf": positive_ranks(tfidf_similarity(fit_texts, pairs, cfg["tfidf"]), candidates)}
    for name, model in models.items():
        model.max_seq_length = seq_len  # every bi-encoder reads the same amount of context
        model.eval()
        similarity = embedding_similarity(model, pairs, int(cfg["encode_batch_size"]))
        ranks[name] = positive_ranks(similarity, candidates)
    return ranks, candidates.shape[1]


def texts_of(pairs: pd.DataFrame) -> list[str]:
    return [*pairs["context"], *pairs["response"]]


def cross_validation(splits: Path, pretrained, params: dict, executor: dict) -> dict:
    """Per CV fold (over train+validation): fine-tune a fresh model on the other folds with the
    evaluate.cv budget, then score it, the un-tuned MiniLM and TF-IDF on the held-out fold;
    mean and std over folds. A cheaper recipe than `train`, so it measures variance across
    data, not the headline number."""
    cfg, train_cfg = params["evaluate"], params["train"]
    cv = cfg["cv"]
    folds = to_pandas(pq.read_table(splits / "assignments.parquet", columns=["conversation_id", "fold"]))
    folds = folds.dropna(subset=["fold"])
    if not cv["enabled"] or folds.empty:
        return {"folds": 0}
    per_conversation = int(train_cfg["pairs_per_conversation"])
    tables = [splits / f"{name}.parquet" for name in ("train", "validation")]
    all_pairs = pd.concat(
        [load_pairs(t, train_cfg, per_conversation, executor) for t in tables], ignore_index=True
    )
    query_pairs = pd.concat([load_pairs(t, train_cfg, 1, executor) for t in tables], ignore_index=True)
    fold_of = folds.set_index("conversation_id")["fold"]
    fold_cfg = {**train_cfg, "max_pairs": cv["max_pairs"]}
    results: dict[str, list[dict]] = {}
    for fold in sorted(fold_of.unique()):
        held = query_pairs[query_pairs["conversation_id"].map(fold_of) == fold]
        held = sample_rows(held, cv["max_queries"], int(cfg["seed"]))
        rest = sample_rows(
            all_pairs[all_pairs["conversation_id"].map(fold_of) != fold], cv["max_pairs"], int(fold)
        )
        with tempfile.TemporaryDirectory() as checkpoint:
            tuned, _ = fit(rest, None, fold_cfg, Path(checkpoint), epochs=int(cv["epochs"]))
        models = {"finetuned": tuned, "pretrained": pretrained}
        ranks, _ = model_ranks(
            models, held, texts_of(rest), cfg, int(train_cfg["max_seq_length"]), int(cfg["seed"])
        )
        for name, model_ranks_ in ranks.items():
            results.setdefault(name, []).append(rank_metrics(model_ranks_, HEADLINE_KS))
        log.info(
            "cv fold %d: %d queries, finetuned recall@1 %.3f",
            fold,
            len(held),
            results["finetuned"][-1]["recall_at_1"],
        )
    summary = {
        "folds": len(fold_of.unique()),
        "train_pairs_per_fold": int(cv["max_pairs"]),
        "epochs": int(cv["epochs"]),
    }
    for name, rows in results.items():
        frame = pd.DataFrame(rows)
        summary[name] = {f"{m}_mean": float(frame[m].mean()) for m in frame} | {
            f"{m}_std": float(frame[m].std(ddof=1)) if len(frame) > 1 else 0.0 for m in frame
        }
    return summary
