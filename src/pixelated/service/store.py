"""The persistent state: one SQLite file (WAL) shared by API processes and workers.

Jobs, stages and events survive a restart; API keys are stored as scrypt hashes only; the
audit log records who did what to which id, never conversation text.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL,
  scopes TEXT NOT NULL, created REAL NOT NULL, revoked REAL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, key_id TEXT, action TEXT NOT NULL,
  target TEXT, status INTEGER);
CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY, key_id TEXT, filename TEXT NOT NULL, format TEXT NOT NULL,
  path TEXT NOT NULL, summary TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, key_id TEXT, dataset_id TEXT NOT NULL, overrides TEXT NOT NULL,
  target TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  lease_until REAL, worker TEXT, error TEXT, metrics TEXT, created REAL NOT NULL,
  updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS stages (
  job_id TEXT NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL, ledger TEXT,
  updated REAL NOT NULL, PRIMARY KEY (job_id, stage));
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, ts REAL NOT NULL,
  kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY, url TEXT NOT NULL, secrets TEXT NOT NULL, events TEXT NOT NULL,
  created REAL NOT NULL, disabled REAL);
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, status TEXT NOT NULL,
  last_status INTEGER, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
"""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Store:
    """Thin helpers over one SQLite database; each call opens a short-lived connection, so
    API threads, the worker and a second process never share a connection."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def execute(self, sql: str, args: tuple = ()) -> int:
        with self.connect() as db:
            return db.execute(sql, args).rowcount

    def one(self, sql: str, args: tuple = ()) -> dict | None:
        with self.connect() as db:
            row = db.execute(sql, args).fetchone()
        return dict(row) if row else None

    def all(self, sql: str, args: tuple = ()) -> list[dict]:
        with self.connect() as db:
            return [dict(r) for r in db.execute(sql, args).fetchall()]

    # --- audit and events ---

    def audit(self, key_id: str | None, action: str, target: str | None, status: int) -> None:
        self.execute(
            "INSERT INTO audit (ts, key_id, action, target, status) VALUES (?, ?, ?, ?, ?)",
            (time.time(), key_id, action, target, status),
        )

    def event(self, job_id: str, kind: str, **data) -> None:
        self.execute(
            "INSERT INTO events (job_id, ts, kind, data) VALUES (?, ?, ?, ?)",
            (job_id, time.time(), kind, json.dumps(data, sort_keys=True)),
        )

    def events_after(self, job_id: str, after: int) -> list[dict]:
        rows = self.all("SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after))
        return [{**r, "data": json.loads(r["data"])} for r in rows]

    # --- jobs ---

    def claim_job(self, worker: str, lease_s: float) -> dict | None:
        """Atomically take the oldest queued job, or a running one whose worker died (lease
        expired): that is how a job survives a restart."""
        now = time.time()
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT * FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?)"
                " ORDER BY created LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, attempts = attempts + 1,"
                " updated = ? WHERE id = ?",
                (worker, now + lease_s, now, row["id"]),
            )
            db.execute("COMMIT")
        return {**dict(row), "attempts": row["attempts"] + 1}

    def renew(self, job_id: str, worker: str, lease_s: float) -> None:
        self.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ?",
            (time.time() + lease_s, job_id, worker),
        )

    def finish_job(self, job_id: str, status: str, error: str | None, metrics: dict) -> None:
        self.execute(
            "UPDATE jobs SET status = ?, error = ?, metrics = ?, lease_until = NULL, updated = ?"
            " WHERE id = ?",
            (status, error, json.dumps(metrics, sort_keys=True), time.time(), job_id),
        )

    def set_stage(self, job_id: str, stage: str, status: str, ledger: dict | None = None) -> None:
        self.execute(
            "INSERT INTO stages (job_id, stage, status, ledger, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id, stage) DO UPDATE SET status = excluded.status,"
            " ledger = COALESCE(excluded.ledger, stages.ledger), updated = excluded.updated",
            (job_id, stage, status, None if ledger is None else json.dumps(ledger), time.time()),
        )

    def queue_depth(self) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')")
        return int(row["n"])
