"""How semantic dedup's pair search grows with the number of representatives, and what the
linear search (inverted lists) misses of the exact one.

`semantic.all_pairs` compares every pair (blocked matrix products): exact, quadratic.
`semantic.listed_pairs` compares only inside k-means lists: about linear. Both run on the same
generated vectors: MiniLM's 384 dimensions per side, grouped around topics as real texts are,
with planted duplicate pairs whose two sides sit at cosine 0.85-0.98. Recall is measured
against `all_pairs` where it still runs (up to --exact-up-to) and against the planted pairs
at every size. Growth exponents come from the last two sizes (1 linear, 2 quadratic).
With --shared-data ROOT (a checkout where `dvc repro dedup` ran), the pipeline's own dedup of
ROOT's anonymized table runs both ways, the lists made small (--shared-list-size) so that
there are many: are the clusters the same?

    python -m bench.semantic_scaling --sizes 10000 20000 40000 100000 200000 400000 1000000 \
        --shared-data .
writes bench/results/semantic_scaling.json (with the load average: the machine is shared).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from bench import command_line
from bench.embed_bench import timed
from pixelated.core.config import build_config, read_params
from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.dedup.cascade import find_duplicates
from pixelated.dedup.config import SemanticConfig
from pixelated.dedup.dedup import DedupStageConfig
from pixelated.dedup.features import features_fn, table_features
from pixelated.dedup.semantic import all_pairs, listed_pairs

REPO = Path(__file__).resolve().parents[1]
EXTRAPOLATE_TO = (1_000_000, 10_000_000)
TOPICS = 2000
PLANTED_SHARE = 0.02


def planted_vectors(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
    """Seeker and helper vectors around shared topics (background cosine about 0.4 within a
    topic), and planted pairs: a copy of a vector, both sides perturbed to cosine 0.85-0.98."""
    rng = np.random.default_rng(seed)
    originals = rng.choice(n, int(n * PLANTED_SHARE), replace=False)
    copies = rng.choice(np.setdiff1d(np.arange(n), originals), len(originals), replace=False)
    sides = []
    for _ in ("seeker", "helper"):
        topics = rng.standard_normal((TOPICS, DIMENSION)).astype(np.float32)
        vectors = 0.8 * topics[rng.integers(0, TOPICS, n)] + rng.standard_normal((n, DIMENSION)).astype(
            np.float32
        )
        noise = rng.uniform(0.2, 0.55, (len(copies), 1)).astype(np.float32)
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        moved = vectors[originals] + noise * rng.standard_normal((len(copies), DIMENSION)).astype(
            np.float32
        ) / np.sqrt(DIMENSION)
        vectors[copies] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
        sides.append(vectors)
    planted = {(int(min(a, b)), int(max(a, b))) for a, b in zip(originals, copies, strict=True)}
    return sides[0], sides[1], planted


def _pair_set(found: list) -> set[tuple[int, int]]:
    return {(a, b) for a, b, _ in found}


def measure(n: int, cfg: SemanticConfig, exact_up_to: int, seed: int) -> dict:
    seeker, helper, planted = planted_vectors(n, seed)
    seconds, found = timed(lambda: listed_pairs(seeker, helper, cfg.threshold, cfg.list_size, cfg.probes))
    listed = _pair_set(found)
    row = {"listed_seconds": round(seconds, 2), "listed_pairs": len(listed)}
    row["planted_recall"] = round(len(listed & planted) / len(planted), 4)
    if n <= exact_up_to:
        seconds, found = timed(lambda: all_pairs(seeker, helper, cfg.threshold))
        exact = _pair_set(found)
        row |= {"exact_seconds": round(seconds, 2), "exact_pairs": len(exact)}
        row["recall_vs_exact"] = round(len(listed & exact) / max(1, len(exact)), 4)
        row["extra_pairs"] = len(listed - exact)  # must be 0: every listed pair is verified
    return row


def on_shared_data(root: Path, list_size: int) -> dict:
    """ROOT's dedup, semantic pairs from all pairs and from lists of `list_size`, with ROOT's
    params and embedding cache (read only): the cluster tables compared row by row."""
    stage = build_config(DedupStageConfig, read_params(root / "params.yaml"))
    table = root / "data" / "interim" / "anonymized.parquet"
    features = table_features(table, features_fn(stage.dedup), stage.executor)
    cache = EmbeddingCache(
        read_only=[root / "data" / "cache" / "embeddings.parquet"],
        batch_size=stage.dedup.semantic.batch_size,
        backend=stage.embed.backend,
    )
    runs = {}
    for search, exact_max in (("all_pairs", len(features)), ("inverted_lists", 0)):
        semantic = stage.dedup.semantic.model_copy(update={"exact_max": exact_max, "list_size": list_size})
        runs[search] = find_duplicates(features, stage.dedup.model_copy(update={"semantic": semantic}), cache)
    exact, listed = runs["all_pairs"].clusters, runs["inverted_lists"].clusters
    return {
        "conversations": len(features),
        "list_size": list_size,
        "semantic": {search: run.stats["semantic"] for search, run in runs.items()},
        "same_clusters": bool(exact.equals(listed)),
        "conversations_clustered_differently": int((exact != listed).any(axis=1).sum()),
        "texts_embedded": cache.misses,  # 0: every vector came from the pipeline's cache
    }


def growth(rows: dict[int, dict], key: str) -> dict:
    """Exponent k of time ~ n^k between the last two sizes, and the time extrapolated with it."""
    sizes = [n for n in rows if key in rows[n]]
    small, large = sizes[-2], sizes[-1]
    k = float(np.log(rows[large][key] / rows[small][key]) / np.log(large / small))
    hours = {str(n): round(rows[large][key] * (n / large) ** k / 3600, 2) for n in EXTRAPOLATE_TO}
    return {"growth_exponent": round(k, 2), "from_sizes": [small, large], "extrapolated_hours": hours}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000, 100_000, 200_000])
    parser.add_argument("--exact-up-to", type=int, default=40_000, help="largest size all_pairs runs at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared-data", type=Path, help="a checkout where `dvc repro dedup` ran")
    parser.add_argument("--shared-list-size", type=int, default=100)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "semantic_scaling.json")
    args = parser.parse_args()
    cfg = SemanticConfig(**read_params(REPO / "params.yaml")["dedup"]["semantic"])
    load_before = os.getloadavg()[0]
    rows = {n: measure(n, cfg, args.exact_up_to, args.seed) for n in sorted(args.sizes)}
    result = {
        "what": __doc__.split("\n\n")[0],
        "config": {"threshold": cfg.threshold, "list_size": cfg.list_size, "probes": cfg.probes},
        "sizes": {str(n): row for n, row in rows.items()},
        "exact": growth(rows, "exact_seconds"),
        "listed": growth(rows, "listed_seconds"),
        "shared_data": on_shared_data(args.shared_data, args.shared_list_size) if args.shared_data else None,
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
