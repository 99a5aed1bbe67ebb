"""select: keep conversations that pass the safety gate, the clinical-accuracy gate and the
chosen quality tier (reviewer verdicts override); export the clinician review set and the
bias report. Cheap: reads the scores, never recomputes them. (Not named select.py: that
would shadow the standard library's `select` module for scripts in this folder.)"""

import argparse
import json
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.runner import load_params, run_batch_filter, setup_logging
from pixelated.core.schema import SCORED_SCHEMA, SELECTED_SCHEMA, selected_schema
from pixelated.core.tableio import read_batches, to_pandas
from pixelated.core.validation import canonical_schema
from pixelated.scoring.metrics import METRICS
from pixelated.selection import gates as selection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("input", "verdicts", "output", "quarantine", "ledger", "review", "metrics"):
        parser.add_argument(f"--{name}", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg = {key: params[key] for key in ("quality", "safety", "review")}
    verdicts = selection.read_verdicts(args.verdicts)

    ledger = run_batch_filter(
        "select",
        partial(selection.decide_batch, cfg=cfg, verdicts=verdicts),
        input_path=args.input,
        output_path=args.output,
        quarantine_path=args.quarantine,
        ledger_path=args.ledger,
        arrow_schema=SELECTED_SCHEMA,
        output_check=selected_schema(canonical_schema(int(params["validate"]["max_turn_chars"]))),
        executor=params["executor"],
    )

    # Decisions for every scored row (scores only, no text) for the review sample and bias report.
    columns = [c for c in SCORED_SCHEMA.names if c != "turns"]
    scores = to_pandas(pq.read_table(args.input, columns=columns))
    kept_ids = set(pq.read_table(args.output, columns=["conversation_id"]).column(0).to_pylist())
    scores["kept"] = scores["conversation_id"].isin(kept_ids)
    scores["quality_tier"] = selection.tier_of(scores["quality"], cfg["quality"]["tiers"])
    reasons = selection.gate_reasons(scores, cfg)
    scores["auto_decision"] = reasons.where(reasons != "", "keep")
    review_cfg = cfg["review"]
    review = selection.review_sample(
        scores,
        float(review_cfg["sample_fraction"]),
        int(review_cfg["seed"]),
        float(cfg["safety"]["min_score"]),
    )
    review = review.merge(_turns_of(args.input, set(review["conversation_id"]), params), on="conversation_id")
    args.review.mkdir(parents=True, exist_ok=True)
    selection.verdict_template(review, verdicts).to_csv(args.review / "review.csv", index=False)
    (args.review / "review.html").write_text(
        selection.render_review_html(review, METRICS, float(review_cfg["sample_fraction"]))
    )

    metrics = {
        "tier": cfg["quality"]["tier"],
        "min_score": float(cfg["quality"]["min_score"]),
        "kept": ledger.rows_out,
        "kept_by_tier": scores[scores["kept"]]["quality_tier"].value_counts().sort_index().to_dict(),
        "would_keep_at_tier": selection.tier_counts(scores, cfg),
        "review": {
            "conversations": len(review),
            "by_reason": review["review_reason"].value_counts().sort_index().to_dict(),
            "verdicts_applied": int(scores["conversation_id"].isin(verdicts.index).sum()),
        },
        "bias": selection.bias_report(
            scores,
            list(review_cfg["bias_columns"]),
            int(review_cfg["bias_min_group"]),
            float(review_cfg["bias_max_relative_gap"]),
        ),
    }
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def _turns_of(path: Path, wanted: set[str], params: dict) -> pd.DataFrame:
    parts = [
        batch.loc[batch["conversation_id"].isin(wanted), ["conversation_id", "turns"]]
        for batch in read_batches(path, int(params["executor"]["batch_size"]))
    ]
    return pd.concat(parts, ignore_index=True)


if __name__ == "__main__":
    main()
