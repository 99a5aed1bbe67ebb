"""Bounded load test of /v1/score on loopback: 8 concurrent streams x 200 conversations.

The conversations are a fixed sample of a finished pipeline run (`--run`, read only): their
anonymized, deduplicated text from data/interim/filtered.parquet, their raw text from
data/raw/validated.parquet. The batch `score` stage (`scoring.score.run`) scores the sample
and saves its classifier; the service, started with that classifier, anonymizes and scores the
raw conversations. Every result must come back exactly once, with the batch stage's scores and
its anonymized text. Writes p50/p95 latency per conversation (line sent to its result
received) and throughput relative to the batch stage to bench/results/service.json.

    python bench/service_bench.py [--run /work/baseline --streams 8 --per-stream 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pixelated.core.config import build_config, read_params  # noqa: E402
from pixelated.core.schema import SCORE_METRICS  # noqa: E402
from pixelated.scoring import score  # noqa: E402
from tests.service.conftest import Service, service_env  # noqa: E402

SCORES = (*SCORE_METRICS, "quality", "safety", "cssrs_level", "quality_tier")
# labelled ESConv dialogues (accepted and failed) so the strategy model can be fitted; the rest
# short sources, so the bench fits this shared 2-core machine
FIT_SOURCES = {"esconv_multiesc": 5, "esconv_failed": 5}


def sample(run: Path, n: int, folder: Path) -> Path:
    """A fixed sample of `n` filtered conversations (its Arrow schema kept): the labelled ones,
    some counsel_chat, the rest empathetic_intents, each the first by conversation id."""
    table = pq.read_table(run / "data/interim/filtered.parquet")
    frame = table.select(["conversation_id", "source"]).to_pandas().sort_values("conversation_id")
    wanted = {**FIT_SOURCES, "counsel_chat": n // 16}
    wanted["empathetic_intents"] = n - sum(wanted.values())
    rows = pd.concat([frame[frame["source"] == source].head(k) for source, k in wanted.items()])
    path = folder / "filtered.parquet"
    pq.write_table(table.take(sorted(rows.index)), path)
    return path


def batch_scores(source: Path, folder: Path) -> tuple[score.ScorePaths, list[float]]:
    """The score stage on the sample, twice (its embedding cache cold, then warm): its paths
    and its conversations per second in each run."""
    paths = score.ScorePaths(
        input=source,
        output=folder / "scored.parquet",
        metrics=folder / "quality.json",
        cache=folder / "turn_embeddings.parquet",
        labels=REPO / "data/labels",
        labelled_from=source,
        scorers=REPO / "models/scorers",
    )
    cfg, rows, rates = build_config(score.ScoreConfig, read_params(REPO / "params.yaml")), [], []
    for _ in ("cold", "warm"):  # the second run finds every turn vector in the stage's cache
        started = time.perf_counter()
        score.run(cfg, paths)
        rates.append(pq.read_metadata(source).num_rows / (time.perf_counter() - started))
        rows.append(pq.read_table(paths.output).to_pandas())
    assert rows[0].equals(rows[1]), "the score stage is not deterministic"
    return paths, rates


def stream_lines(run: Path, ids: set[str]) -> list[dict]:
    """The raw conversations as stream records: source and record id give the same id."""
    raw = pq.read_table(
        run / "data/raw/validated.parquet", columns=["conversation_id", "source", "source_record_id", "turns"]
    ).to_pylist()
    return [
        {"source": r["source"], "id": r["source_record_id"],
         "turns": [{"role": t["role"], "text": t["text"]} for t in r["turns"]]}
        for r in raw if r["conversation_id"] in ids
    ]  # fmt: skip


async def one_stream(client: httpx.AsyncClient, lines: list[dict]) -> list[tuple[dict, float]]:
    """Send lines one by one while reading results; latency = result received - line sent."""
    sent: dict[int, float] = {}

    async def body():
        for number, line in enumerate(lines, start=1):
            sent[number] = time.perf_counter()
            yield (json.dumps(line) + "\n").encode()

    out = []
    async with client.stream("POST", "/v1/score", content=body()) as response:
        response.raise_for_status()
        async for text in response.aiter_lines():
            if text:
                result = json.loads(text)
                out.append((result, time.perf_counter() - sent[result["line"]]))
    return out


async def load(url: str, key: str, chunks: list[list[dict]]) -> tuple[list[tuple[dict, float]], float]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=7200) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, chunk) for chunk in chunks))
        return [r for stream in results for r in stream], time.perf_counter() - started


def compare(results: list[dict], batch: pd.DataFrame) -> dict:
    """Lost, duplicated and mismatched results against the batch stage's table."""
    expected = {row["conversation_id"]: row for row in batch.to_dict("records")}
    ids = [r.get("conversation_id") for r in results]
    scored = [r for r in results if "error" not in r]
    score_diff = [
        r["conversation_id"] for r in scored if any(r[c] != expected[r["conversation_id"]][c] for c in SCORES)
    ]
    largest = max(
        (abs(r[c] - expected[r["conversation_id"]][c]) for r in scored for c in (*SCORE_METRICS, "quality")),
        default=0.0,
    )
    text_diff = [
        r["conversation_id"] for r in scored
        if [t["text"] for t in r["turns"]] != [t["text"] for t in expected[r["conversation_id"]]["turns"]]
    ]  # fmt: skip
    return {"sent": len(expected), "returned": len(results), "missing": len(set(expected) - set(ids)),
            "duplicates": len(ids) - len(set(ids)), "errors": len(results) - len(scored),
            "score_mismatches": len(score_diff), "max_abs_score_diff": float(largest),
            "anonymized_text_mismatches": len(text_diff)}  # fmt: skip


def serve(folder: Path, stage: score.ScorePaths) -> tuple[Service, str]:
    """The API process as the README starts it, with the batch stage's trained scorers and its
    turn-vector cache (read only), as a deployment next to the pipeline runs it."""
    env = service_env(
        folder / "service", stage.scorers, rate_per_minute="100000", embeddings=str(stage.cache)
    )
    svc = Service(env)
    key = svc.key("score", "bench")
    svc.start()
    svc.wait("/ready", timeout=600)
    return svc, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=REPO.parent.parent / "baseline")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--per-stream", type=int, default=200)
    args = parser.parse_args()
    n = args.streams * args.per_stream
    with tempfile.TemporaryDirectory(prefix="service-bench-") as tmp:
        folder = Path(tmp)
        stage, batch_rates = batch_scores(sample(args.run, n, folder), folder)
        batch = pq.read_table(folder / "scored.parquet").to_pandas()
        batch["quality_tier"] = score_tiers(batch)
        lines = stream_lines(args.run, set(batch["conversation_id"]))
        svc, key = serve(folder, stage)
        try:
            timed, elapsed = asyncio.run(
                load(svc.url, key, [lines[i :: args.streams] for i in range(args.streams)])
            )
        finally:
            svc.kill()
    write_report(args, timed, elapsed, batch, batch_rates)


def score_tiers(batch: pd.DataFrame) -> pd.Series:
    from pixelated.selection.gates import tier_of

    return tier_of(batch["quality"], read_params(REPO / "params.yaml")["quality"]["tiers"])


def write_report(
    args, timed: list[tuple[dict, float]], elapsed: float, batch: pd.DataFrame, rates: list[float]
):
    results, latencies = [r for r, _ in timed], [s for _, s in timed]
    processing = [r["seconds"] for r in results]
    rate = len(results) / elapsed
    report = {
        "streams": args.streams, "per_stream": args.per_stream, "run": str(args.run),
        "sample": batch["source"].value_counts().sort_index().to_dict(), **compare(results, batch),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(statistics.quantiles(latencies, n=20)[18], 3),
        "processing_p50_s": round(statistics.median(processing), 4),
        "processing_p95_s": round(statistics.quantiles(processing, n=20)[18], 4),
        "service_conversations_per_s": round(rate, 2),
        "batch_conversations_per_s_cold_cache": round(rates[0], 2),
        "batch_conversations_per_s": round(rates[1], 2),  # warm: the turn vectors, as the service has
        "throughput_vs_batch": round(rate / rates[1], 3), "elapsed_s": round(elapsed, 1),
        "cpus": len(os.sched_getaffinity(0)), "load_average_1m": round(os.getloadavg()[0], 1),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                 text=True).stdout.strip(),
    }  # fmt: skip
    out = REPO / "bench" / "results" / "service.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
