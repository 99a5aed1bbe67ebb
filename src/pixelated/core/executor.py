"""Map a function over batches locally, over processes, or on Ray, keeping input order.

Per-conversation work is written as a function of one batch (a pandas frame) so the same
code scales from a laptop to a cluster by changing `executor.kind` in config. Only a
bounded number of batches is in flight, so streaming input stays streaming.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from pixelated import pinned_numerics
from pixelated.core import resources
from pixelated.core.process import raise_if_stopped, start_worker

In = TypeVar("In")
Out = TypeVar("Out")

KINDS = ("local", "process", "ray")


def map_batches(
    fn: Callable[[In], Out],
    batches: Iterable[In],
    kind: str = "local",
    workers: int = 2,
    actor_options: dict | None = None,
) -> Iterator[Out]:
    """Yield fn(batch) for each batch, in input order. `fn` must be picklable for
    `process` and `ray` (a module-level function or a functools.partial of one);
    `actor_options` (Ray's num_cpus, memory) size each Ray worker.

    An unknown `kind` raises here, before any batch is read or any output is opened.
    """
    _check_kind(kind)
    return _map_all(fn, batches, kind, workers, actor_options or {})


def map_with(fn: Callable[[In], Out], batches: Iterable[In], executor) -> Iterator[Out]:
    """`map_batches` as an `ExecutorConfig` describes it."""
    return map_batches(fn, batches, executor.kind, executor.n_workers, executor.actor_options)


@contextmanager
def mapping(fn: Callable[[In], Out], executor) -> Iterator[Callable[[Iterable[In]], Iterator[Out]]]:
    """A mapper of `fn` over the executor's workers, kept for the whole block: a sharded stage
    maps each shard in turn without starting its workers (and loading their models) again."""
    _check_kind(executor.kind)
    with _mapper(fn, executor.kind, executor.n_workers, executor.actor_options) as mapper:
        yield mapper


def in_fresh_process(fn: Callable[..., Out], /, *args, preload: Sequence[str] = ()) -> Out:
    """`fn(*args)` in a new Python process that ends with it, so everything it allocated goes
    back to the system when it returns: for work that leaves memory behind in the allocator,
    such as a fine-tuning fit. `fn` and `args` must be picklable.

    The process is forked from multiprocessing's forkserver, a process that imported the
    `preload` modules (the first call's list holds) and nothing of the stage's state: a
    spawned process imported torch again, 5 to 10 s a fit. Not being this process's child, its
    peak RSS and CPU time reach the stage's resources entry through `resources.count_process`."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    level = logging.getLogger().getEffectiveLevel()
    with ProcessPoolExecutor(1, mp_context=context, initializer=_start_fresh, initargs=(level,)) as pool:
        try:
            result, peak_rss, cpu_s = pool.submit(_measured, fn, *args).result()
        except BaseException:
            _kill_workers(pool)
            raise
    resources.count_process(peak_rss, cpu_s)
    return result


def _start_fresh(log_level: int) -> None:
    from pixelated.core.config import setup_logging

    start_worker()
    setup_logging(log_level)


def _measured(fn: Callable[..., Out], *args) -> tuple[Out, int, float]:
    """`fn(*args)`, with this process's peak RSS in bytes and CPU seconds once it is done."""
    result = fn(*args)
    return result, *resources.own_usage()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"executor.kind={kind!r}; expected one of {KINDS}")


def _map_all(fn, batches, kind: str, workers: int, actor_options: dict) -> Iterator:
    with _mapper(fn, kind, workers, actor_options) as mapper:
        yield from mapper(batches)


@contextmanager
def _mapper(fn, kind: str, workers: int, actor_options: dict):
    if kind == "local" or (kind == "process" and workers <= 1):  # one worker: no pool to pay for
        yield lambda batches: map(fn, batches)
    elif kind == "process":
        # `fn` goes to each worker once, not with every batch: dedup's is a partial holding the
        # whole cluster table. Workers die with the stage: a killed stage leaves none running.
        with ProcessPoolExecutor(max_workers=workers, initializer=_install, initargs=(fn,)) as pool:
            try:
                yield lambda batches: _bounded(lambda b: pool.submit(_call, b).result, batches, 2 * workers)
            except BaseException:
                _kill_workers(pool)
                raise
    else:
        with _ray_actors(fn, workers, actor_options) as submit:
            yield lambda batches: _bounded(submit, batches, 2 * workers)


class _Worker:
    """A long-lived Ray actor holding `fn`: what `fn` loads (spaCy, Presidio, MiniLM, cached
    per process) is loaded once per actor for the whole stage, not once per batch."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def run(self, batch):
        return self.fn(batch)


@contextmanager
def _ray_actors(fn, workers: int, actor_options: dict):
    """A pool of `workers` actors; yields a submit function that deals batches round-robin.
    Connects to the cluster at RAY_ADDRESS when set (`ray start --head`, KubeRay), else starts
    Ray on this machine; its workers get this process's numeric settings (`pinned_numerics`)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("executor.kind=ray needs `pip install -e '.[ray]'`") from None
    env = {"env_vars": pinned_numerics()}
    ray.init(ignore_reinit_error=True, log_to_driver=False, runtime_env=env)
    actors = [ray.remote(_Worker).options(**actor_options).remote(fn) for _ in range(workers)]
    turn = itertools.count()

    def submit(batch):
        ref = actors[next(turn) % workers].run.remote(batch)
        return lambda: ray.get(ref)

    try:
        yield submit
    finally:
        for actor in actors:
            ray.kill(actor)


_WORKER_FN: list[Callable] = []  # the function this worker process maps, set by `_install`


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """End a failed map's workers before the pool's shutdown joins them. The stage fails
    either way; the other workers would otherwise finish their batches first, and a pool
    broken by a killed worker was once seen (in CI) to leave the stage waiting on the rest.
    What Python 3.14's `ProcessPoolExecutor.kill_workers` does."""
    for worker in list((pool._processes or {}).values()):
        worker.kill()


def _install(fn: Callable) -> None:
    start_worker()
    _WORKER_FN[:] = [fn]


def _call(batch):
    return _WORKER_FN[0](batch)


def _bounded(submit, batches: Iterable, window: int) -> Iterator:
    """Keep at most `window` submitted batches pending; `submit` returns a result getter."""
    pending: deque = deque()
    for batch in batches:
        raise_if_stopped()
        pending.append(submit(batch))
        if len(pending) >= window:
            yield pending.popleft()()
    while pending:
        yield pending.popleft()()
