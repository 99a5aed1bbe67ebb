"""evaluate: recall@k and MRR among seeded candidate sets on the test split for the fine-tuned
model, the un-tuned MiniLM, TF-IDF and the un-curated ablation; fairness by group; CV folds."""

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pixelated.core.embed import load_sentence_model
from pixelated.core.runner import load_params, setup_logging
from pixelated.modeling.evaluation import HEADLINE_KS, cross_validation, model_ranks, texts_of
from pixelated.modeling.finetune import resolve_device
from pixelated.modeling.retrieval import group_metrics, load_pairs, rank_metrics, sample_rows
from pixelated.reporting.tables import FairnessSchema, RecallCurveSchema, write_validated_csv
from pixelated.reporting.tracking import log_stage_run

log = logging.getLogger("pixelated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", required=True, type=Path)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--ablation-model", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--recall-curve", required=True, type=Path, help="CSV: k vs recall@k per model")
    parser.add_argument("--fairness", required=True, type=Path, help="CSV: metrics per group and model")
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg, train_cfg, executor = params["evaluate"], params["train"], params["executor"]
    seed, seq_len = int(cfg["seed"]), int(train_cfg["max_seq_length"])

    test = sample_rows(
        load_pairs(args.splits / "test.parquet", train_cfg, 1, executor), cfg["max_queries"], seed
    )
    train_pairs = load_pairs(
        args.splits / "train.parquet", train_cfg, int(train_cfg["pairs_per_conversation"]), executor
    )
    device = resolve_device(train_cfg["device"])
    pretrained = load_sentence_model(device=device)
    models = {
        "finetuned": load_sentence_model(args.model, device=device),
        "pretrained": pretrained,
        "ablation_uncurated": load_sentence_model(args.ablation_model, device=device),
    }
    ranks, n_candidates = model_ranks(models, test, texts_of(train_pairs), cfg, seq_len, seed)
    ks = sorted({*HEADLINE_KS, *map(int, cfg["ks"])})

    curve = pd.DataFrame({"k": [k for k in ks if k <= n_candidates]})
    for name, model_ranks_ in ranks.items():
        curve[name] = [float(np.mean(model_ranks_ <= k)) for k in curve["k"]]
    write_validated_csv(curve, args.recall_curve, RecallCurveSchema)
    fairness = group_metrics(test, ranks, HEADLINE_KS, int(cfg["fairness_min_queries"]))
    write_validated_csv(fairness, args.fairness, FairnessSchema)

    headline = {name: rank_metrics(r, HEADLINE_KS) for name, r in ranks.items()}
    gaps = {
        attribute: {
            model: round(float(part["recall_at_1"].max() - part["recall_at_1"].min()), 6)
            for model, part in rows.groupby("model", sort=True)
        }
        for attribute, rows in fairness.groupby("attribute", sort=True)
        if rows["group"].nunique() > 1
    }
    metrics = {
        "test": {"queries": len(test), "candidates": n_candidates, **headline},
        "finetuned_beats_pretrained_recall_at_1": headline["finetuned"]["recall_at_1"]
        > headline["pretrained"]["recall_at_1"],
        "curation_gain_recall_at_1": headline["finetuned"]["recall_at_1"]
        - headline["ablation_uncurated"]["recall_at_1"],
        "fairness_recall_at_1_gap": gaps,
        "cv": cross_validation(args.splits, pretrained, params, executor),
    }
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log.info("evaluate: recall@1 %s", {name: round(m["recall_at_1"], 3) for name, m in headline.items()})

    log_stage_run(
        "evaluate",
        params["mlflow"],
        params={"evaluate": cfg, "train": train_cfg},
        metrics=metrics,
        inputs=[args.splits, args.model, args.ablation_model],
        artifacts=[args.fairness, args.recall_curve],
    )


if __name__ == "__main__":
    main()
