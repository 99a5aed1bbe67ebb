"""What a stage process does before any work: die with its parent, stop cleanly on a signal,
keep what it creates private, and refuse to run beside a live copy of itself.

Without this, `dvc repro` killed by SIGTERM leaves its stage running, reparented to PID 1,
and the next `dvc repro` starts a second copy writing the same outputs (issue 17, item 7).
`start_stage` is called once, from `runner.stage_args`, which every stage script goes through.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import multiprocessing
import os
import select
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PRIVATE_UMASK = 0o077  # files 0o600, folders 0o700: conversation data is never world-readable
# (pid, parent) at import, to notice a parent that died before prctl took effect
_ORIGIN = (os.getpid(), os.getppid())
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_HELD: list[int] = []  # lock descriptors, open for the life of the process
_HANDLER_OWNER = [0]  # the process that installed `_stop`; forked workers inherit it until reset
STOPPED_BY: list[str] = []  # the signal that stopped this process, if one did (resources.py reads it)


def start_stage(name: str, paths: Iterable[str | Path]) -> None:
    """Everything a stage needs before it touches a file; `paths` are its arguments."""
    os.umask(PRIVATE_UMASK)
    die_with_parent()
    exit_on_signals()
    hold_lock(name, paths)


def die_with_parent(sig: int = signal.SIGTERM, *, stage: bool = True) -> None:
    """Have Linux send `sig` to this process when its parent (dvc) dies; elsewhere a no-op.
    `stage=False` for a pool worker, whose parent is its stage."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    # DVC_STAGE marks the process dvc started; taken out, so that the stage's own children
    # (a fit's fresh process imports `stages` again) do not take themselves for it: one whose
    # grandparent is not dvc stopped itself at once when SHELL was unset
    if stage and os.environ.pop("DVC_STAGE", None) is not None:
        _die_with_dvc(sig)
    elif os.getpid() == _ORIGIN[0] and os.getppid() != _ORIGIN[1]:
        os.kill(os.getpid(), sig)  # the parent died before the death signal was requested


def _die_with_dvc(sig: int) -> None:
    """Stop a stage DVC runs when dvc ends, however it was started.

    dvc runs the command through `$SHELL -c`, or `/bin/sh -c` when SHELL is unset (as in CI).
    bash execs the command, so dvc is the parent and the death signal covers it; dash does
    not, and the shell, alive after dvc dies, kept the stage running to the end (a CI
    failure). So a stage whose parent is a shell watches dvc itself. A stage whose dvc is
    already gone was adopted by init or a subreaper, never by dvc, and stops at once."""
    dvc = _dvc_ancestor()
    if dvc == os.getppid():
        return
    try:
        watched = os.pidfd_open(dvc) if dvc else None
    except ProcessLookupError:
        watched = None
    except OSError as error:  # a kernel without pidfds: the death signal alone
        log.warning("cannot watch dvc (pid %d): %s", dvc, error)
        return
    if watched is None or not _is_dvc(dvc):  # gone, or its pid already reused
        os.kill(os.getpid(), sig)
        return
    threading.Thread(target=_signal_on_exit, args=(watched, sig), name="watch-dvc", daemon=True).start()


def _signal_on_exit(pidfd: int, sig: int) -> None:
    """Block until the process behind `pidfd` ends, then send `sig` to this process."""
    select.select([pidfd], [], [])
    os.kill(os.getpid(), sig)


def _dvc_ancestor() -> int | None:
    """dvc's pid: the parent, or the parent's parent when a shell that did not exec the
    command sits between them; None when neither is dvc. Unreadable /proc: the parent,
    rather than stop a stage that may be wanted."""
    parent = os.getppid()
    try:
        if _is_dvc(parent):
            return parent
        grandparent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return grandparent if grandparent > 0 and _is_dvc(grandparent) else None
    except OSError:
        return parent


def _is_dvc(pid: int) -> bool:
    """`dvc ...` or `python -m dvc ...`: one of the first arguments is named dvc."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:3]
    except (FileNotFoundError, ProcessLookupError):  # gone, before or while it was read
        return False
    return any(Path(arg.decode(errors="replace")).name == "dvc" for arg in args)


def start_worker() -> None:
    """What a pool worker does first. It writes no output of its own, so a signal just ends it:
    the stage's `_stop`, inherited through fork, made concurrent.futures catch the SystemExit
    and send it back to a stage that could be gone, blocking on the full pipe forever while
    holding the stage's lock. It also dies with its stage."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    die_with_parent(stage=False)


def _stop(signum: int, _frame) -> None:
    """Turn a signal into SystemExit, so `with` blocks run and temporary outputs are deleted.

    Pool workers are killed first. A signal that lands while a pool is starting, or while its
    results are being consumed, can leave it without the shutdown that tells idle workers to
    quit, and Python's exit then waits for them forever (the stage hung, holding its lock).
    SIGKILL, because a worker still starting has this handler too: in a forked worker it ends
    the worker alone, which owns no output (its copy of the stage's children is not its own)."""
    if os.getpid() != _HANDLER_OWNER[0]:
        os._exit(128 + signum)
    STOPPED_BY.append(signal.Signals(signum).name)
    for worker in multiprocessing.active_children():
        worker.kill()
    raise_if_stopped()


def raise_if_stopped() -> None:
    """Raise the SystemExit a stop signal asked for, again. Python drops an exception raised in
    a fork or finalizer callback, and a signal can land in one (logging's after-fork callback
    runs at every pool start): the stage would run on. Called before each batch and before an
    output is published, so such a stage stops there and publishes nothing."""
    if STOPPED_BY:
        raise SystemExit(f"stopped by {STOPPED_BY[-1]}")


def exit_on_signals() -> None:
    _HANDLER_OWNER[:] = [os.getpid()]
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)


def lock_dir() -> Path:
    """One folder per user for every stage lock on this machine (PE_LOCK_DIR overrides it)."""
    folder = Path(
        os.environ.get("PE_LOCK_DIR") or Path(tempfile.gettempdir()) / f"pixelated-locks-{os.getuid()}"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def lock_path(name: str, paths: Iterable[str | Path]) -> Path:
    """The lock of one invocation: the stage name and the absolute paths it reads and writes."""
    resolved = sorted(str(Path(p).resolve()) for p in paths)
    key = hashlib.sha256("\0".join([name, *resolved]).encode()).hexdigest()[:16]
    return lock_dir() / f"stage-{name}-{key}.lock"


def hold_lock(name: str, paths: Iterable[str | Path]) -> Path:
    """Take the invocation's exclusive lock for the life of the process; the kernel drops it
    however the process ends. Held by a live process: exit with a message naming its PID."""
    path = lock_path(name, paths)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SystemExit(
            f"{name}: another process (pid {holder}) is running this stage on the same outputs; "
            f"refusing to start a second copy (lock {path})"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD.append(fd)
    return path


def stage_name() -> str:
    """`stages.validate` for `python -m stages.validate`; the script name otherwise."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem
