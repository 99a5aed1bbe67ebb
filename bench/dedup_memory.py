"""Dedup's peak memory as its input grows (issue 14: no stage holds the whole dataset).

For each --sizes, a corpus of that many conversations: real ones from --input, then perturbed
copies (`bench.dedup_bench.grown`, as the speed benchmark grows its corpus). Each goes through
the dedup stage's own `dedup.run`, with the repository's params and executor, in a fresh
process; the peak RSS is that process's or its largest worker's (`resources.measure`, as
reports/resources.json records it). Ratios are to the smallest size, measured in the same run.

Semantic dedup is off unless --semantic: embedding two texts per conversation with MiniLM on a
CPU takes hours at these sizes (bench/semantic_scaling.py times its search apart). With
--semantic hash it runs whole, vectors, cache, search and all, but with `HashEncoder` in place
of the model: a fixed random unit vector per text, computed in microseconds. That measures the
memory of everything but the model, whose own is the same at any input size.

    python -m bench.dedup_memory --input data/interim/anonymized.parquet [--sizes 50000 200000 800000]
writes bench/results/dedup_memory.json (with --semantic hash: dedup_memory_semantic_hash.json).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import command_line
from bench.dedup_bench import grown
from bench.memory import REPO, run_fresh, with_ratios, write_result
from pixelated.core import embed, resources
from pixelated.core.config import load_config
from pixelated.core.embed import DIMENSION
from pixelated.core.hashing import text_hash
from pixelated.core.tableio import to_pandas
from pixelated.dedup import dedup


def write_corpus(table: pa.Table, size: int, seed: int, path: Path, batch_size: int) -> None:
    """`size` conversations grown from `table`, with its schema, at `path`, in row groups of
    `batch_size` as the stages write theirs (a reader holds one row group at a time)."""
    real = to_pandas(table).assign(turns=lambda f: f["turns"].map(list))
    corpus = pa.Table.from_pandas(grown(real, size, seed), schema=table.schema, preserve_index=False)
    pq.write_table(corpus, path, row_group_size=batch_size)


class HashEncoder:
    """Stands in for MiniLM (`embed.load_encoder`): a unit vector seeded by each text's hash; a
    token per text, so batches are cut by size alone."""

    max_seq_length = 256

    def tokenizer(self, texts, **_):
        return {"attention_mask": np.ones((len(texts), 1), np.int64)}

    def encode(self, texts, batch_size=64, normalize_embeddings=True, **_) -> np.ndarray:
        vectors = np.stack(
            [np.random.default_rng(text_hash(t)).standard_normal(DIMENSION, np.float32) for t in texts]
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stage_config(semantic: bool) -> dedup.DedupStageConfig:
    """The repository's dedup params, with semantic dedup on or off."""
    cfg = load_config(dedup.DedupStageConfig, REPO / "params.yaml")
    switched = cfg.dedup.semantic.model_copy(update={"enabled": semantic})
    return cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"semantic": switched})})


def run_stage(corpus: Path, out: Path, semantic: bool) -> dict:
    """The dedup stage on `corpus`, in this process; its resources entry."""
    cfg = stage_config(semantic)
    names = ("output", "clusters", "quarantine", "ledger")
    paths = dedup.DedupPaths(
        corpus, *(out / f"{name}.parquet" for name in names), out / "report.json", out / "cache.parquet"
    )
    dedup.run(cfg, paths)
    return resources.measure(paths.ledger)


def measure_size(table: pa.Table, size: int, args, work: Path) -> dict:
    """Write the corpus of `size`, run the stage on it in a fresh process, return its entry."""
    corpus, out = work / f"corpus-{size}.parquet", work / f"out-{size}"
    write_corpus(table, size, args.seed, corpus, stage_config(False).executor.batch_size)
    out.mkdir()
    semantic = ["--semantic", args.semantic] if args.semantic else []
    entry = run_fresh(
        "bench.dedup_memory", [str(corpus), str(out), *semantic], f"dedup on {size} conversations"
    )
    corpus.unlink()
    return {key: entry[key] for key in ("wall_s", "cpu_s", "peak_rss_mb", "rows_in", "rows_out")}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--input", type=Path, default=REPO / "data/interim/anonymized.parquet")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 800_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--semantic", choices=["model", "hash"], help="semantic dedup on, with this encoder")
    parser.add_argument("--run", type=Path, nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    name = f"dedup_memory_semantic_{args.semantic}" if args.semantic else "dedup_memory"
    args.output = args.output or REPO / f"bench/results/{name}.json"
    if args.run:
        if args.semantic == "hash":
            embed.load_encoder = lambda backend="torch": HashEncoder()  # in this fresh process only
        print(json.dumps(run_stage(*args.run, args.semantic is not None)))
        return
    table = pq.read_table(args.input)
    with tempfile.TemporaryDirectory(prefix="dedup-memory-") as work:
        rows = {size: measure_size(table, size, args, Path(work)) for size in sorted(args.sizes)}
    smallest, largest = rows[min(rows)], rows[max(rows)]
    result = {
        "semantic": args.semantic,
        "cpus": os.cpu_count(),
        "sizes": with_ratios(rows),
        "rss_growth_kb_per_conversation": round(
            (largest["peak_rss_mb"] - smallest["peak_rss_mb"]) * 1024 / max(1, max(rows) - min(rows)), 3
        ),
    }
    write_result(args.output, result)


if __name__ == "__main__":
    main()
