"""Bounded load test of /v1/score on loopback: 8 concurrent streams x 200 conversations.

Conversations come from a finished pipeline run (`--run`, default /work/baseline-like layout:
data/raw/validated.parquet for the raw input, data/interim/scored.parquet for the batch
scores, data/interim/filtered.parquet for the strategy model). The service anonymizes and
scores the raw conversations; every result must come back exactly once with the batch scores.
Writes p50/p95 latency per conversation and throughput relative to the batch score stage
(conversations/second from its log line, or --batch-rate) to bench/results/service.json.

    python bench/service_bench.py --run ../baseline [--streams 8 --per-stream 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
METRICS = ("therapeutic_accuracy", "coherence", "emotional_authenticity", "clinical_compliance",
           "personality_consistency", "language_quality", "quality", "safety")  # fmt: skip


def conversations(run: Path, n: int) -> tuple[list[dict], dict[str, dict]]:
    scored = pq.read_table(
        run / "data/interim/scored.parquet", columns=["conversation_id", *METRICS]
    ).to_pylist()
    wanted = {row["conversation_id"]: row for row in scored[:n]}
    raw = pq.read_table(run / "data/raw/validated.parquet", columns=["conversation_id", "source",
                        "source_record_id", "turns"]).to_pylist()  # fmt: skip
    lines = [{"source": r["source"], "id": r["source_record_id"],
              "turns": [{"role": t["role"], "text": t["text"]} for t in r["turns"]]}
             for r in raw if r["conversation_id"] in wanted]  # fmt: skip
    return lines, wanted


async def stream(client: httpx.AsyncClient, lines: list[dict]) -> tuple[list[dict], list[float]]:
    body = "".join(json.dumps(line) + "\n" for line in lines)
    out, latencies, last = [], [], time.perf_counter()
    async with client.stream("POST", "/v1/score", content=body) as response:
        async for line in response.aiter_lines():
            if line:
                now = time.perf_counter()
                out.append(json.loads(line))
                latencies.append(now - last)
                last = now
    return out, latencies


async def load(url: str, key: str, chunks: list[list[dict]]) -> tuple[list[dict], list[float], float]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=3600) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(stream(client, chunk) for chunk in chunks))
        elapsed = time.perf_counter() - started
    return [r for out, _ in results for r in out], [x for _, lat in results for x in lat], elapsed


def compare(results: list[dict], wanted: dict[str, dict]) -> dict:
    ids = [r.get("conversation_id") for r in results]
    mismatched = [
        r["conversation_id"] for r in results
        if "error" not in r and any(abs(r[m] - wanted[r["conversation_id"]][m]) > 1e-6 for m in METRICS)
    ]  # fmt: skip
    return {"sent": len(wanted), "returned": len(results), "unique": len(set(ids)),
            "missing": len(set(wanted) - set(ids)), "duplicates": len(ids) - len(set(ids)),
            "errors": sum("error" in r for r in results), "score_mismatches": len(mismatched)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--per-stream", type=int, default=200)
    parser.add_argument("--batch-rate", type=float, required=True, help="batch score stage conversations/s")
    args = parser.parse_args()
    lines, wanted = conversations(args.run, args.streams * args.per_stream)
    chunks = [lines[i :: args.streams] for i in range(args.streams)]
    results, latencies, elapsed = asyncio.run(load(args.url, args.key, chunks))
    rate = len(results) / elapsed
    report = {
        "streams": args.streams, "per_stream": args.per_stream, **compare(results, wanted),
        "latency_p50_s": round(statistics.median(latencies), 4),
        "latency_p95_s": round(statistics.quantiles(latencies, n=20)[18], 4),
        "service_conversations_per_s": round(rate, 2), "batch_conversations_per_s": args.batch_rate,
        "throughput_vs_batch": round(rate / args.batch_rate, 3), "elapsed_s": round(elapsed, 1),
    }  # fmt: skip
    out = REPO / "bench" / "results" / "service.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
