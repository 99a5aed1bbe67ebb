"""score: measure every conversation (six sub-metrics, overall quality, safety, crisis flags)
and how far the scores agree with human judgement. Deciding what to keep is `select`'s job."""

import argparse
import json
import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.embed import EmbeddingCache
from pixelated.core.executor import map_batches
from pixelated.core.runner import load_params, progress, setup_logging
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.tableio import ValidatedWriter, count_rows, read_batches, to_pandas
from pixelated.core.validation import canonical_schema
from pixelated.scoring import agreement
from pixelated.scoring.metrics import METRICS, measurement_turns, score_batch
from pixelated.scoring.models import StrategyClassifier

log = logging.getLogger("pixelated.score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("input", "output", "metrics", "cache", "crisis-labels"):
        parser.add_argument(f"--{name}", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    setup_logging(params)
    cfg, executor = params["quality"], params["executor"]
    batch_size = int(executor["batch_size"])
    started = time.perf_counter()

    # Pass 1: measured turns of every conversation, embedded once (cached), strategy model fitted.
    labels = agreement.read_crisis_labels(args.crisis_labels)
    wanted = {(c, int(i)) for c, i in zip(labels["conversation_id"], labels["turn_index"], strict=True) if c}
    mturns: dict[str, list] = {}
    feedback: dict[str, float] = {}
    labelled_turn_text: dict[tuple[str, int], str] = {}
    for batch in read_batches(args.input, batch_size):
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            mturns[cid] = measurement_turns(turns)
            for index, turn in enumerate(turns):
                if (cid, index) in wanted:
                    labelled_turn_text[(cid, index)] = turn["text"]
        feedback.update(
            zip(batch["conversation_id"], agreement.seeker_feedback_mean(batch["turns"]), strict=True)
        )
    texts = sorted({t.text for turns in mturns.values() for t in turns})
    cache = EmbeddingCache(args.cache)
    vector_of = dict(zip(texts, cache.encode(texts), strict=True))
    cache.save(keep=texts)
    keys, labelled = [], []
    for cid, turns in mturns.items():
        for i, turn in enumerate(turns):
            if turn.role == "helper" and turn.strategy:
                keys.append((cid, i))
                labelled.append(turn.strategy)
    classifier = StrategyClassifier().fit(
        np.stack([vector_of[mturns[c][i].text] for c, i in keys]), labelled, keys
    )
    embedded = time.perf_counter()
    log.info("embedded %d turn texts and fitted the strategy model in %.0fs", len(texts), embedded - started)

    def arrays(batch: pd.DataFrame):
        vectors, probs = [], []
        for cid in batch["conversation_id"]:
            turns = mturns[cid]
            matrix = np.stack([vector_of[t.text] for t in turns]) if turns else np.zeros((0, 384), np.float32)
            helper = [i for i, t in enumerate(turns) if t.role == "helper"]
            vectors.append(matrix)
            probs.append(classifier.probabilities(matrix[helper], [(cid, i) for i in helper]))
        return batch, vectors, probs

    # Pass 2: score batches (executor from config) and write, validated.
    schema = scored_schema(canonical_schema(int(params["validate"]["max_turn_chars"])))
    results = map_batches(
        partial(score_batch, weights=cfg["weights"]),
        (arrays(b) for b in read_batches(args.input, batch_size)),
        kind=executor.get("kind", "local"),
        workers=int(executor.get("workers", 2)),
    )
    with ValidatedWriter(args.output, SCORED_SCHEMA, schema) as writer:
        for scored in progress(
            results, "score", total=-(-count_rows(args.input) // batch_size), unit="batch"
        ):
            writer.write(scored)
    elapsed = time.perf_counter() - started
    log.info(
        "scored %d conversations in %.0fs (%.1f/s; embedding and classifier %.0fs)",
        writer.rows, elapsed, writer.rows / max(elapsed, 1e-9), embedded - started,
    )  # fmt: skip

    columns = [c for c in SCORED_SCHEMA.names if c != "turns"]
    scores = to_pandas(pq.read_table(args.output, columns=columns))
    feedback_series = scores["conversation_id"].map(feedback).astype(float)
    metrics = {
        "conversations": len(scores),
        "distribution": {m: agreement.distribution(scores[m]) for m in (*METRICS, "quality", "safety")},
        "by_source": {
            source: {"n": len(part), **agreement.distribution(part["quality"])}
            for source, part in scores.groupby("source", sort=True)
        },
        "agreement": {
            "rejected_vs_accepted": agreement.rejected_vs_accepted_auc(
                scores, cfg["accepted_source"], cfg["rejected_source"]
            ),
            "spearman": agreement.human_agreement(scores, feedback_series),
        },
        "crisis": {
            "conversations_flagged": int((scores["crisis_kinds"] != "").sum()),
            "by_kind": _kind_counts(scores["crisis_kinds"]),
            "detector": agreement.crisis_evaluation(labels, labelled_turn_text),
        },
        "strategy_classifier": classifier.report,
        "error_analysis": agreement.error_analysis(scores, cfg["weights"], int(cfg["error_analysis_rows"])),
    }
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def _kind_counts(kinds: pd.Series) -> dict[str, int]:
    exploded = kinds[kinds != ""].str.split(",").explode()
    return {k: int(n) for k, n in exploded.value_counts().sort_index().items()}


if __name__ == "__main__":
    main()
