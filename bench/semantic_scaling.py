"""How semantic dedup's pair search grows with the number of conversations it compares.

`semantic.semantic_pairs` compares every pair of representatives (blocked matrix products), so
its time is quadratic in their number; bench/dedup_bench.py times the exact and MinHash path
only. This times the pair search alone on random unit vectors (MiniLM's 384 dimensions, both
sides, dedup's threshold) at doubling sizes, and extrapolates the last ratio to 1M and 10M.

    python -m bench.semantic_scaling --sizes 10000 20000 40000
writes bench/results/semantic_scaling.json (with the load average: the machine is shared).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from bench import command_line
from pixelated.core.embed import DIMENSION
from pixelated.dedup.semantic import semantic_pairs

REPO = Path(__file__).resolve().parents[1]
EXTRAPOLATE_TO = (1_000_000, 10_000_000)


def unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def timed_search(n: int, threshold: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    seeker, helper = unit_vectors(n, rng), unit_vectors(n, rng)
    start = time.perf_counter()
    semantic_pairs(seeker, helper, threshold)
    return time.perf_counter() - start


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--threshold", type=float, default=0.85, help="dedup.semantic.threshold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "semantic_scaling.json")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    seconds = {n: timed_search(n, args.threshold, args.seed) for n in args.sizes}
    largest = args.sizes[-1]
    # time ~ n^k between the last two sizes; k = 2 is quadratic, k = 1 linear
    exponent = float(np.log(seconds[largest] / seconds[args.sizes[-2]]) / np.log(largest / args.sizes[-2]))
    result = {
        "what": __doc__.split("\n\n")[0],
        "seconds": {str(n): round(s, 2) for n, s in seconds.items()},
        "growth_exponent": round(exponent, 2),
        "extrapolated_hours": {
            str(n): round(seconds[largest] * (n / largest) ** exponent / 3600, 1) for n in EXTRAPOLATE_TO
        },
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
