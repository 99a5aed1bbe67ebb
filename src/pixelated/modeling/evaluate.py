"""evaluate: recall@k and MRR among seeded candidate sets on the test split for the fine-tuned
model, the un-tuned MiniLM and TF-IDF; fairness by group; CV folds; the curation ablation.

Every model is ranked on the same seeded candidate sets, so their numbers compare directly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pixelated.core.config import Config, ExecutorConfig, MlflowConfig
from pixelated.core.embed import load_sentence_model
from pixelated.core.tableio import to_pandas
from pixelated.modeling.ablation import ablation_data, run_ablation
from pixelated.modeling.config import EvaluateConfig, TrainConfig
from pixelated.modeling.finetune import fitted_then, resolve_device
from pixelated.modeling.retrieval import (
    candidate_ranks,
    candidate_sets,
    encode_pairs,
    group_metrics,
    load_pairs,
    load_sample,
    rank_metrics,
    sample_rows,
    tfidf_vectors,
)
from pixelated.reporting.tables import FairnessSchema, RecallCurveSchema, write_validated_csv
from pixelated.reporting.tracking import log_stage_run

log = logging.getLogger(__name__)

HEADLINE_KS = (1, 5)


class EvaluateStageConfig(Config):
    evaluate: EvaluateConfig
    train: TrainConfig
    executor: ExecutorConfig = ExecutorConfig()
    mlflow: MlflowConfig


@dataclass(frozen=True)
class EvaluatePaths:
    splits: Path
    passed_dedup: Path  # everything that passed dedup: the ablation's un-curated pool
    model: Path
    metrics: Path
    recall_curve: Path  # CSV: k vs recall@k per model
    fairness: Path  # CSV: metrics per group and model


def run(cfg: EvaluateStageConfig, paths: EvaluatePaths) -> None:
    evaluate, train = cfg.evaluate, cfg.train
    test, available = load_sample(
        paths.splits / "test.parquet", train, 1, evaluate.max_queries, evaluate.seed, cfg.executor
    )
    tfidf_fit, _ = load_sample(
        paths.splits / "train.parquet",
        train,
        train.pairs_per_conversation,
        evaluate.tfidf.max_fit_pairs,
        evaluate.seed,
        cfg.executor,
    )
    device = resolve_device(train.device)
    pretrained = load_sentence_model(device=device)
    models = {
        "finetuned": load_sentence_model(paths.model, device=device),
        "pretrained": pretrained,
    }
    ranks, n_candidates = model_ranks(models, test, texts_of(tfidf_fit), evaluate, train.max_seq_length)
    write_validated_csv(recall_curve(ranks, evaluate.ks, n_candidates), paths.recall_curve, RecallCurveSchema)
    fairness = group_metrics(test, ranks, HEADLINE_KS, evaluate.fairness_min_queries)
    write_validated_csv(fairness, paths.fairness, FairnessSchema)

    headline = {name: rank_metrics(r, HEADLINE_KS) for name, r in ranks.items()}
    sampled = len(test) / max(available, 1)
    with ablation_data(paths.splits, paths.passed_dedup, test, sampled, train, cfg.executor) as data:
        ablation = run_ablation(data, pretrained, train, evaluate, cfg.executor)
    curated_test_gains = ablation["curated"]["curation_gain"]
    metrics = {
        "test": {"queries": len(test), "candidates": n_candidates, **headline},
        "finetuned_beats_pretrained_recall_at_1": headline["finetuned"]["recall_at_1"]
        > headline["pretrained"]["recall_at_1"],
        "curation_gain_recall_at_1": curated_test_gains["vs_random_subset"]["recall_at_1"]["mean"],
        "fairness_recall_at_1_gap": fairness_gaps(fairness),
        "cv": cross_validation(paths.splits, pretrained, cfg),
        "ablation": ablation,
    }
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log.info("evaluate: recall@1 %s", {name: round(m["recall_at_1"], 3) for name, m in headline.items()})

    log_stage_run(
        "evaluate",
        cfg.mlflow,
        params={"evaluate": evaluate.model_dump(), "train": train.model_dump()},
        metrics=metrics,
        inputs=[paths.splits, paths.passed_dedup, paths.model],
        artifacts=[paths.fairness, paths.recall_curve],
    )


def recall_curve(ranks: dict[str, np.ndarray], ks: list[int], n_candidates: int) -> pd.DataFrame:
    """recall@k per model for the configured k (and the headline ones) up to the set size."""
    curve = pd.DataFrame({"k": [k for k in sorted({*HEADLINE_KS, *ks}) if k <= n_candidates]})
    for name, model_ranks_ in ranks.items():
        curve[name] = [float(np.mean(model_ranks_ <= k)) for k in curve["k"]]
    return curve


def fairness_gaps(fairness: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per attribute with more than one group: the spread of recall@1 across groups, per model."""
    return {
        attribute: {
            model: round(float(part["recall_at_1"].max() - part["recall_at_1"].min()), 6)
            for model, part in rows.groupby("model", sort=True)
        }
        for attribute, rows in fairness.groupby("attribute", sort=True)
        if rows["group"].nunique() > 1
    }


def model_ranks(models: dict, pairs: pd.DataFrame, fit_texts: list[str], cfg: EvaluateConfig, seq_len: int):
    """Rank of each query's response for every model on one shared set of candidate sets."""
    candidates = candidate_sets(len(pairs), cfg.candidates, cfg.seed)
    ranks = {"tfidf": candidate_ranks(*tfidf_vectors(fit_texts, pairs, cfg.tfidf), candidates)}
    for name, model in models.items():
        ranks[name] = encoder_ranks(model, pairs, cfg, seq_len)
    return ranks, candidates.shape[1]


def encoder_ranks(model, pairs: pd.DataFrame, cfg: EvaluateConfig, seq_len: int) -> np.ndarray:
    """A bi-encoder's rank of each query's own response on the seeded candidate sets."""
    model.max_seq_length = seq_len  # every bi-encoder reads the same amount of context
    model.eval()
    vectors = encode_pairs(model, pairs, cfg.encode_batch_size)
    return candidate_ranks(*vectors, candidate_sets(len(pairs), cfg.candidates, cfg.seed))


def texts_of(pairs: pd.DataFrame) -> list[str]:
    return [*pairs["context"], *pairs["response"]]


def cross_validation(splits: Path, pretrained, cfg: EvaluateStageConfig) -> dict:
    """Per CV fold (over train+validation): fine-tune a fresh model on the other folds with the
    evaluate.cv budget, then score it, the un-tuned MiniLM and TF-IDF on the held-out fold;
    mean and std over folds. A cheaper recipe than `train`, so it measures variance across
    data, not the headline number."""
    evaluate, train, cv = cfg.evaluate, cfg.train, cfg.evaluate.cv
    # only small datasets have folds (split.cv_below): read those rows, not every conversation's
    has_fold = pc.field("fold").is_valid()
    folds = to_pandas(
        pq.read_table(splits / "assignments.parquet", columns=["conversation_id", "fold"], filters=has_fold)
    )
    if not cv.enabled or folds.empty:
        return {"folds": 0}
    tables = [splits / f"{name}.parquet" for name in ("train", "validation")]
    all_pairs = pd.concat(
        [load_pairs(t, train, train.pairs_per_conversation, cfg.executor) for t in tables], ignore_index=True
    )
    query_pairs = pd.concat([load_pairs(t, train, 1, cfg.executor) for t in tables], ignore_index=True)
    fold_of = folds.set_index("conversation_id")["fold"]
    results: dict[str, list[dict]] = {}
    for fold in sorted(fold_of.unique()):
        held = query_pairs[query_pairs["conversation_id"].map(fold_of) == fold]
        held = sample_rows(held, cv.max_queries, evaluate.seed)
        rest = sample_rows(
            all_pairs[all_pairs["conversation_id"].map(fold_of) != fold], cv.max_pairs, int(fold)
        )
        rank = partial(encoder_ranks, pairs=held, cfg=evaluate, seq_len=train.max_seq_length)
        ranks, _ = model_ranks(
            {"pretrained": pretrained}, held, texts_of(rest), evaluate, train.max_seq_length
        )
        ranks["finetuned"] = fitted_then(rank, rest, train, epochs=cv.epochs)
        for name, model_ranks_ in ranks.items():
            results.setdefault(name, []).append(rank_metrics(model_ranks_, HEADLINE_KS))
        log.info(
            "cv fold %d: %d queries, finetuned recall@1 %.3f",
            fold,
            len(held),
            results["finetuned"][-1]["recall_at_1"],
        )
    summary = {"folds": len(fold_of.unique()), "train_pairs_per_fold": cv.max_pairs, "epochs": cv.epochs}
    for name, rows in results.items():
        frame = pd.DataFrame(rows)
        summary[name] = {f"{m}_mean": float(frame[m].mean()) for m in frame} | {
            f"{m}_std": float(frame[m].std(ddof=1)) if len(frame) > 1 else 0.0 for m in frame
        }
    return summary
