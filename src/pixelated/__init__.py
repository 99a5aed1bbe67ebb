"""Pixelated Empathy: a reproducible curation pipeline for mental-health support conversations."""

import os
import platform

__version__ = "0.1.0"

# The same floating-point results on every x86-64 machine with AVX2. BLAS (OpenBLAS in numpy
# and scipy, MKL in torch), oneDNN (in OpenVINO and torch) and torch's own kernels otherwise
# pick their code paths by CPU, AVX2 or AVX-512, and those round differently: a model fitted or
# a text embedded on another machine would not reproduce dvc.lock byte for byte. Set here,
# before any of them loads (every stage imports this package first); the environment wins.
REPRODUCIBLE_NUMERICS = {
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return " avx2" in cpuinfo.read()
    except OSError:
        return False


def pinned_numerics() -> dict[str, str]:
    """The numeric libraries' settings this process runs with (empty off x86-64 with AVX2), to
    hand on to workers that do not inherit this environment (a Ray cluster's)."""
    return {name: os.environ[name] for name in REPRODUCIBLE_NUMERICS if name in os.environ}


if platform.machine().lower() in ("x86_64", "amd64") and _has_avx2():
    for _name, _value in REPRODUCIBLE_NUMERICS.items():
        os.environ.setdefault(_name, _value)
