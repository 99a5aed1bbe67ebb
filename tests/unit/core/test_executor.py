"""map_batches: local, process and ray executors give the same results in input order."""

from __future__ import annotations

import importlib.util
import os
from functools import partial

import pandas as pd
import pytest

from pixelated.core.config import ExecutorConfig
from pixelated.core.executor import in_fresh_process, map_batches
from pixelated.selection.filter_length import length_filter
from tests.conftest import with_turns


def test_map_batches_local_and_process_agree_in_order(canonical_row, frame):
    batches = [
        frame([canonical_row(10 * b + i, turns=with_turns(b + i)) for i in range(3)]) for b in range(7)
    ]
    fn = partial(length_filter, min_turns=2, max_turns=5)
    local = list(map_batches(fn, batches, kind="local"))
    process = list(map_batches(fn, batches, kind="process", workers=2))
    assert len(local) == len(process) == 7
    for (kept_l, rej_l), (kept_p, rej_p) in zip(local, process, strict=True):
        pd.testing.assert_frame_equal(kept_l, kept_p)
        assert rej_l == rej_p
    kept_lines = [line for kept, _ in process for line in kept["source_line"].tolist()]
    assert kept_lines == sorted(kept_lines)  # batch order preserved
    assert sum(len(k) + len(r) for k, r in process) == 21


def test_map_batches_order_with_uneven_work():
    batches = [[i] * (1000 * (10 - i)) for i in range(10)]  # early batches are the slowest
    assert list(map_batches(sum, batches, kind="process", workers=3)) == list(map(sum, batches))
    assert list(map_batches(sum, batches, kind="local")) == list(map(sum, batches))


def test_map_batches_unknown_kind_raises_before_reading():
    def batches():
        raise AssertionError("a batch was read")
        yield

    with pytest.raises(ValueError, match=r"executor\.kind='dask'"):
        map_batches(sum, batches(), kind="dask")


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_map_batches_ray_without_ray_says_how_to_install():
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        list(map_batches(sum, [[1]], kind="ray"))


def test_ray_actors_reserve_what_the_config_asks():
    assert ExecutorConfig(kind="ray").actor_options == {"num_cpus": 1.0}
    sized = ExecutorConfig(kind="ray", ray_cpus=0.5, ray_memory_mb=1536)
    assert sized.actor_options == {"num_cpus": 0.5, "memory": 1536 * 1024 * 1024}


def test_a_fresh_process_hands_back_its_result_or_its_error():
    child = in_fresh_process(os.getpid)
    assert child != os.getpid() and in_fresh_process(os.getpid) != child  # a new one each time
    assert in_fresh_process(sorted, [3, 1, 2]) == [1, 2, 3]
    with pytest.raises(ValueError, match="invalid literal"):
        in_fresh_process(int, "three")
