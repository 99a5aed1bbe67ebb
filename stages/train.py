"""train: fine-tune MiniLM as a response selector (seeker context -> helper response) on the
train split, early-stopped on validation; the same training on un-curated data for the ablation."""

import argparse
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.hashing import dvc_md5
from pixelated.core.runner import load_params, setup_logging
from pixelated.core.tableio import to_pandas
from pixelated.modeling.finetune import fit
from pixelated.modeling.retrieval import HELD_OUT_KEYS, exclude_held_out, load_pairs, sample_rows
from pixelated.reporting.tables import TrainingCurveSchema, write_validated_csv
from pixelated.reporting.tracking import log_history, log_registered_sentence_model, stage_run


def train_one(name: str, pairs: pd.DataFrame, val_pairs: pd.DataFrame, cfg: dict, output: Path) -> dict:
    """Fit on at most train.max_pairs of `pairs`; the best checkpoint lands in `output` with a
    training.json beside it (the config and curve that produced it)."""
    pairs = sample_rows(pairs, cfg["max_pairs"], int(cfg["seed"]))
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
    config = {"train": cfg, **summary, "history": history}
    (output / "training.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return {"model": model, "history": history, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", required=True, type=Path, help="folder with <split>.parquet")
    parser.add_argument("--uncurated", required=True, type=Path, help="table before dedup/selection")
    parser.add_argument("--output", required=True, type=Path, help="model folder")
    parser.add_argument("--clusters", required=True, type=Path, help="dedup cluster table (group_id)")
    parser.add_argument("--ablation-output", required=True, type=Path, help="model trained on --uncurated")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--curve", required=True, type=Path, help="CSV: epoch vs loss / val metrics")
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg, executor = params["train"], params["executor"]
    per_conversation = int(cfg["pairs_per_conversation"])

    train_pairs = load_pairs(args.splits / "train.parquet", cfg, per_conversation, executor)
    val_pairs = sample_rows(
        load_pairs(args.splits / "validation.parquet", cfg, 1, executor),
        cfg["val_max_queries"],
        int(cfg["seed"]),
    )
    curated = train_one("curated", train_pairs, val_pairs, cfg, args.output)

    # ablation: the same recipe on the un-curated table, minus everything held out for scoring
    held_out = pd.concat(
        [
            to_pandas(pq.read_table(args.splits / f"{s}.parquet", columns=list(HELD_OUT_KEYS)))
            for s in ("validation", "test")
        ]
    )
    groups = to_pandas(pq.read_table(args.clusters, columns=["conversation_id", "group_id"]))
    uncurated_pairs, excluded = exclude_held_out(
        load_pairs(args.uncurated, cfg, per_conversation, executor),
        held_out,
        groups.set_index("conversation_id")["group_id"],
    )
    ablation = train_one("uncurated", uncurated_pairs, val_pairs, cfg, args.ablation_output)

    write_validated_csv(pd.DataFrame(curated["history"]), args.curve, TrainingCurveSchema)
    data_version = dvc_md5(args.splits)
    metrics = {
        **curated["summary"],
        "validation_queries": len(val_pairs),
        "available_pairs": len(train_pairs),
        "ablation": {
            **ablation["summary"],
            "available_pairs": len(uncurated_pairs),
            "excluded_conversations": excluded,
        },
    }
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")

    import mlflow

    with stage_run("train", params["mlflow"], params={"train": cfg}, inputs=[args.splits, args.uncurated]):
        log_history(curated["history"])
        log_history(ablation["history"], prefix="ablation.")
        mlflow.log_dict(metrics, "train.json")
        log_registered_sentence_model(
            curated["model"],
            cfg["registry"],
            data_version=data_version,
            description=f"MiniLM response selector fine-tuned on data/splits {data_version} (dvc.lock md5)",
            tags={"best_epoch": str(curated["summary"]["best_epoch"])},
        )


if __name__ == "__main__":
    main()
