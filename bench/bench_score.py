"""Throughput of the score stage's parts, in conversations (or texts) per second.

Scoring is measured with the local executor (the baseline) and the process executor, in the
same run, on the same conversations; MiniLM embedding of uncached texts is measured on its own
because the stage pays it only once per text (the cache). Writes bench/results/score.json.

    python bench/bench_score.py --input data/interim/filtered.parquet \
        --cache data/cache/turn_embeddings.parquet
"""

import argparse
import json
import time
from functools import partial
from pathlib import Path

import pandas as pd

from pixelated.core.config import build_config, read_params
from pixelated.core.embed import EmbeddingCache
from pixelated.core.executor import map_batches
from pixelated.core.tableio import read_batches
from pixelated.scoring.metrics import score_batch
from pixelated.scoring.score import ScoreConfig, measure, prepare


def prepared(frame: pd.DataFrame, cache: EmbeddingCache, batch_size: int, scorers: Path):
    """(batch, evidence) items, made as the stage makes them (the scorer models trained by
    train_scorers are loaded; the cache is read, never saved)."""
    batches = [
        frame.iloc[s : s + batch_size].reset_index(drop=True) for s in range(0, len(frame), batch_size)
    ]
    model = prepare(measure(batches).mturns, cache, scorers)
    return [model.arrays(batch) for batch in batches]


def rate(items, weights: dict[str, float], kind: str, workers: int) -> float:
    started = time.perf_counter()
    n = sum(len(out) for out in map_batches(partial(score_batch, weights=weights), items, kind, workers))
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, default=Path("data/interim/filtered.parquet"))
    parser.add_argument("--cache", type=Path, default=Path("data/cache/turn_embeddings.parquet"))
    parser.add_argument("--scorers", type=Path, default=Path("models/scorers"))
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("bench/results/score.json"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    weights = build_config(ScoreConfig, read_params(args.params)).quality.weights

    frame = pd.concat(list(read_batches(args.input, 2000)), ignore_index=True)
    frame = frame.sample(n=min(args.conversations, len(frame)), random_state=0).reset_index(drop=True)
    items = prepared(frame, EmbeddingCache(args.cache), args.batch_size, args.scorers)
    rate(items[:1], weights, "local", 1)  # warm-up: lexicons, VADER, lingua load once per process
    local = rate(items, weights, "local", 1)
    process = rate(items, weights, "process", args.workers)

    fresh = [f"benchmark sentence number {i} about feeling stressed at work" for i in range(256)]
    cold = EmbeddingCache()
    cold.encode(fresh[:8])  # model load
    started = time.perf_counter()
    cold.encode(fresh[8:])
    embed_rate = (len(fresh) - 8) / (time.perf_counter() - started)

    result = {
        "conversations": len(frame),
        "score_conversations_per_s": {"local": round(local, 2), f"process_{args.workers}": round(process, 2)},
        "process_vs_local_ratio": round(process / local, 3),
        "minilm_uncached_texts_per_s": round(embed_rate, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
