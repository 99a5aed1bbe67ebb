"""The job worker: claims jobs from the SQLite table, runs the pipeline through the engine
and sends webhook deliveries. Started as its own process (`python -m pixelated.service worker`).

A job that was running when its worker died is reclaimed once its lease expires; it reruns
`dvc repro` in the same workspace, and DVC skips every stage that had finished.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time

import httpx

from pixelated.service import engine, webhooks
from pixelated.service.settings import Settings
from pixelated.service.store import Store

log = logging.getLogger("pixelated.service.worker")
_STAGE_LINE = re.compile(r"Running stage '([\w-]+)'|Stage '([\w-]+)' didn't change, skipping")
MAX_ATTEMPTS = 3


def run_job(store: Store, settings: Settings, job: dict, worker: str) -> None:
    """Run one claimed job to the end, recording stages and events as they happen."""
    job_id = job["id"]
    store.event(job_id, "started", attempt=job["attempts"])
    dataset = store.one("SELECT * FROM datasets WHERE id = ?", (job["dataset_id"],))
    workspace = settings.workspaces / job_id
    upload = {
        "path": dataset["path"],
        "filename": dataset["filename"],
        "format": dataset["format"],
        "options": json.loads(dataset["summary"]).get("options", {}),
    }
    stop = threading.Event()
    threading.Thread(target=_keep_lease, args=(store, settings, job_id, worker, stop), daemon=True).start()
    try:
        overrides = engine.check_overrides(engine.load_params(settings.repo), json.loads(job["overrides"]))
        env = engine.prepare_workspace(settings.repo, workspace, upload, overrides, settings.data_mirror)
        code = engine.repro(workspace, job["target"], env, lambda line: _on_line(store, job_id, line))
    except Exception as err:  # a broken workspace fails the job, never the worker
        log.exception("job %s could not run", job_id)
        code, env = -1, None
        store.event(job_id, "error", detail=type(err).__name__)
    finally:
        stop.set()
    _finish(store, job, workspace, code, env)


def _keep_lease(store: Store, settings: Settings, job_id: str, worker: str, stop: threading.Event) -> None:
    while not stop.wait(settings.job_lease_s / 3):
        store.renew(job_id, worker, settings.job_lease_s)


def _on_line(store: Store, job_id: str, line: str) -> None:
    match = _STAGE_LINE.search(line)
    if match and match.group(1):
        store.set_stage(job_id, match.group(1), "running")
        store.event(job_id, "stage.started", stage=match.group(1))
    elif match:
        store.set_stage(job_id, match.group(2), "skipped")
        store.event(job_id, "stage.skipped", stage=match.group(2))


def _finish(store: Store, job: dict, workspace, code: int, env: dict | None) -> None:
    ledgers = engine.stage_ledgers(workspace)
    for stage, ledger in ledgers.items():
        store.set_stage(job["id"], stage, "completed", ledger)
    metrics = {f"{s}.rows_out": float(x["rows_out"]) for s, x in ledgers.items()}
    status = "completed" if code == 0 else "failed"
    if code == 0 and env is not None:
        metrics["mlflow_run_id"] = engine.log_job_run(workspace, job, metrics, env)
    error = None if code == 0 else f"dvc repro exited with {code}"
    store.finish_job(job["id"], status, error, metrics)
    store.event(job["id"], status, error=error)
    counts = {s: {"rows_in": x["rows_in"], "rows_out": x["rows_out"]} for s, x in ledgers.items()}
    webhooks.enqueue(
        store,
        f"job.{status}",
        {"job_id": job["id"], "status": status, "ledger": counts, "links": {"job": f"/v1/jobs/{job['id']}"}},
    )


def loop(settings: Settings, once: bool = False, poll_s: float = 0.5) -> None:
    """Claim and run jobs, and deliver webhooks, until stopped."""
    store = Store(settings.db)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    with httpx.Client(timeout=10) as client:
        while True:
            job = store.claim_job(worker, settings.job_lease_s)
            if job and job["attempts"] > MAX_ATTEMPTS:
                store.finish_job(job["id"], "failed", "too many attempts", {})
                store.event(job["id"], "failed", error="too many attempts")
            elif job:
                run_job(store, settings, job, worker)
            webhooks.deliver_due(store, settings, client)
            if once:
                return
            if not job:
                time.sleep(poll_s)
