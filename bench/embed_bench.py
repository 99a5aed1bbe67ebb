"""Embedding benchmark: the pipeline's MiniLM paths against raw float `model.encode`, same texts,
same run (ratios, since the machine is shared).

Compared: raw `SentenceTransformer.encode` (the baseline); the pipeline's torch path
(`embed.encode_sorted`: longest first, one batch per call); the ONNX export in float32; the
int8 ONNX export (`embed.backend: onnx`). For each: seconds, texts/s, speed-up over raw, and
cosine to the raw float vectors (min, 1st percentile, mean), plus how far semantic dedup's
pairs (cosine >= dedup.semantic.threshold among the texts) agree with the float model's.
Also: re-embeds on an unchanged rerun through `EmbeddingCache` (must be 0).

    python bench/embed_bench.py --input data/interim/filtered.parquet --texts 2000
writes bench/results/embedding.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pixelated.core import embed_onnx
from pixelated.core.embed import EmbeddingCache, encode_sorted, load_model

# the adoption bar (issue 14, item 7)
MIN_COSINE = 0.99
MIN_SPEEDUP = 2.0


def sample_texts(path: Path, n: int, seed: int) -> list[str]:
    """`n` distinct turn texts drawn with a seed from the conversation table at `path`."""
    texts = set()
    for batch in pq.ParquetFile(path).iter_batches(2000, columns=["turns"]):
        texts.update(t["text"] for turns in batch.column("turns").to_pylist() for t in turns if t["text"])
    return random.Random(seed).sample(sorted(texts), min(n, len(texts)))


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = fn()
    return time.perf_counter() - start, vectors


def pairs_above(vectors: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    a, b = np.nonzero(np.triu(vectors @ vectors.T, k=1) >= threshold)
    return set(zip(a.tolist(), b.tolist(), strict=True))


def compare(seconds: float, vectors: np.ndarray, raw: tuple[float, np.ndarray], threshold: float):
    """One candidate's row: speed against raw encode, agreement with the float vectors."""
    raw_seconds, reference = raw
    cosine = (vectors * reference).sum(axis=1)
    ours, theirs = pairs_above(vectors, threshold), pairs_above(reference, threshold)
    return {
        "seconds": round(seconds, 2),
        "texts_per_s": round(len(vectors) / seconds, 1),
        "speedup_vs_raw_encode": round(raw_seconds / seconds, 2),
        "cosine_to_float": {
            "min": round(float(cosine.min()), 5),
            "p1": round(float(np.percentile(cosine, 1)), 5),
            "mean": round(float(cosine.mean()), 5),
        },
        "semantic_pairs": {"float": len(theirs), "this": len(ours), "same": len(ours & theirs)},
        "meets_bar": bool(cosine.min() >= MIN_COSINE and raw_seconds / seconds >= MIN_SPEEDUP),
    }


def rerun_misses(texts: list[str]) -> int:
    """Texts embedded again when an unchanged input is embedded a second time via the cache."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.parquet"
        first = EmbeddingCache(path)
        first.encode(texts)
        first.save()
        again = EmbeddingCache(path)
        again.encode(texts)
        return again.misses


def run(texts: list[str], batch_size: int, threshold: float, onnx_dir: Path) -> dict:
    model = load_model()
    encode = dict(batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    model.encode(texts[:8], **encode)  # warm-up: the first call pays one-off set-up costs
    raw = timed(lambda: model.encode(texts, **encode))
    results = {"raw_encode": compare(*raw, raw, threshold)}
    torch_sorted = timed(lambda: encode_sorted(model, texts, batch_size))
    results["torch_sorted"] = compare(*torch_sorted, raw, threshold)
    for name, quantize in (("onnx_float32", False), ("onnx_int8", True)):
        path = onnx_dir / f"{name}.onnx"
        if not path.exists():
            embed_onnx.export(model, path, quantize=quantize)
        encoder = embed_onnx.OnnxEncoder(path, model.tokenizer, model.max_seq_length)
        encoder.encode(texts[:8], batch_size)  # warm-up, as for the float model
        results[name] = compare(*timed(lambda e=encoder: encode_sorted(e, texts, batch_size)), raw, threshold)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, default=Path("data/interim/filtered.parquet"))
    parser.add_argument("--output", type=Path, default=Path("bench/results/embedding.json"))
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=0.85, help="dedup.semantic.threshold")
    parser.add_argument(
        "--onnx-dir", type=Path, default=Path(tempfile.gettempdir()) / "pixelated-embed-bench"
    )
    args = parser.parse_args()
    texts = sample_texts(args.input, args.texts, args.seed)
    load_before = os.getloadavg()[0]
    results = {
        "texts": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "backends": run(texts, args.batch_size, args.threshold, args.onnx_dir),
        "rerun_re_embeds": rerun_misses(texts[:200]),
        "bar": {"min_cosine": MIN_COSINE, "min_speedup_vs_raw_encode": MIN_SPEEDUP},
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "cpus": len(os.sched_getaffinity(0)),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
