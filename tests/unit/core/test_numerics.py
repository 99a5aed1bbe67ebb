"""The numeric libraries are pinned to one code path, so every x86-64 machine computes the
same bytes (a fresh clone reproduces dvc.lock)."""

import json
import os
import subprocess
import sys

import pytest

from pixelated import REPRODUCIBLE_NUMERICS, _has_avx2

PROBE = """
import json, os, pixelated, numpy
from threadpoolctl import threadpool_info
blas = [i["architecture"] for i in threadpool_info() if i["internal_api"] == "openblas"]
print(json.dumps({"env": {k: os.environ.get(k) for k in pixelated.REPRODUCIBLE_NUMERICS}, "blas": blas}))
"""

UNPINNED = {k: v for k, v in os.environ.items() if k not in REPRODUCIBLE_NUMERICS}


def probe(**env) -> dict:
    """What a fresh process that imports the package, then numpy, runs with."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**UNPINNED, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(not _has_avx2(), reason="the pins apply to x86-64 CPUs with AVX2")
def test_importing_the_package_pins_the_kernels_before_numpy_loads():
    found = probe()
    assert found["env"] == REPRODUCIBLE_NUMERICS
    assert set(found["blas"]) == {"Haswell"}


def test_a_value_in_the_environment_wins():
    assert probe(OPENBLAS_CORETYPE="Sandybridge")["env"]["OPENBLAS_CORETYPE"] == "Sandybridge"
