"""The FastAPI app: routes, auth dependencies and the model-holding scorer of one worker."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import generate_latest
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from pixelated.core.config import ConfigError
from pixelated.core.hashing import sha256_file
from pixelated.service import auth, engine, webhooks
from pixelated.service.guard import Guard, Metrics
from pixelated.service.settings import Settings
from pixelated.service.store import Store, new_id

log = logging.getLogger("pixelated.service")
TERMINAL = ("completed", "failed")
UPLOAD_FORMATS = ("jsonl", "json", "openai_chat", "parquet", "qa_csv", "utterance_csv")
STREAM_BATCH = 32  # lines scored together when they arrive together


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["score", "submit", "read", "admin"]] = Field(min_length=1, max_length=4)


class JobIn(BaseModel):
    dataset_id: str = Field(max_length=64)
    overrides: dict[str, bool | int | float | str | list[bool | int | float | str] | None] = {}
    target: str = Field("export", max_length=64)


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=lambda: list(webhooks.EVENTS), min_length=1, max_length=2)


class State:
    """What one API process holds: settings, the store, rate limiter, metrics and the scorer."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db)
        self.limiter = auth.RateLimiter(settings.rate_per_minute)
        self.metrics = Metrics()
        self.params = engine.load_params(settings.repo)
        self.scorer: engine.Scorer | None = None
        self.scorer_error: str | None = None
        self.score_lock = threading.Lock()

    def load_scorer(self) -> None:
        try:
            self.scorer = engine.Scorer(self.params, self.settings.scorers, self.settings.embeddings)
        except Exception as err:  # reported by /ready, never crashes the API
            log.exception("scorer not loaded")
            self.scorer_error = f"{type(err).__name__}: {err}"


def _state(request: Request) -> State:
    return request.app.state.pe


_bearer = HTTPBearer(auto_error=False)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(scope: str):
    """A dependency: a valid, unrevoked Bearer key holding `scope` (admin holds all), within
    its rate limit. With no keys configured at all, every request is refused (fail closed)."""

    def check(request: Request, creds: Bearer) -> auth.Principal:
        state = _state(request)
        if not auth.any_keys(state.store):
            raise HTTPException(401, "no API keys are configured: the service refuses every request")
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                401, "missing Authorization: Bearer key", headers={"WWW-Authenticate": "Bearer"}
            )
        principal = auth.verify(state.store, creds.credentials)
        if principal is None:
            raise HTTPException(401, "invalid or revoked key", headers={"WWW-Authenticate": "Bearer"})
        request.state.key_id = principal.key_id
        if not principal.allows(scope):
            raise HTTPException(403, f"key lacks the {scope!r} scope")
        wait = state.limiter.take(principal.key_id)
        if wait:
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(int(wait))})
        return principal

    return check


Scored = Annotated[auth.Principal, Depends(require("score"))]
Submitter = Annotated[auth.Principal, Depends(require("submit"))]
Reader = Annotated[auth.Principal, Depends(require("read"))]
Admin = Annotated[auth.Principal, Depends(require("admin"))]


def create_app(settings: Settings | None = None, load_models: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    state = State(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if load_models:
            threading.Thread(target=state.load_scorer, daemon=True).start()
        yield

    app = FastAPI(title="Pixelated Empathy curation service", version="1", lifespan=lifespan)
    app.state.pe = state
    _ops_routes(app)
    _admin_routes(app)
    _dataset_routes(app)
    _job_routes(app)
    _score_route(app)
    app.add_middleware(Guard, max_body=settings.max_body_bytes, metrics=state.metrics, store=state.store)
    return app


def _ops_routes(app: FastAPI) -> None:
    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready")
    def ready(request: Request) -> JSONResponse:
        state = _state(request)
        checks = {
            "models_loaded": state.scorer is not None,
            "queue_reachable": _queue_ok(state.store),
            "keys_configured": auth.any_keys(state.store),
        }
        ok = all(checks.values())
        return JSONResponse(
            {"ready": ok, **checks, "error": state.scorer_error}, status_code=200 if ok else 503
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request, _: Reader) -> Response:
        state = _state(request)
        state.metrics.queue.set(state.store.queue_depth())
        return Response(generate_latest(state.metrics.registry), media_type="text/plain; version=0.0.4")


def _queue_ok(store: Store) -> bool:
    try:
        store.queue_depth()
        return True
    except Exception:
        return False


def _admin_routes(app: FastAPI) -> None:
    @app.post("/v1/keys", status_code=201)
    def create_key(body: KeyIn, request: Request, _: Admin) -> dict:
        token, row = auth.create_key(_state(request).store, body.name, list(body.scopes))
        request.state.target = row["id"]
        return {**row, "token": token}

    @app.get("/v1/keys")
    def list_keys(request: Request, _: Admin) -> list[dict]:
        rows = _state(request).store.all(
            "SELECT id, name, scopes, created, revoked FROM api_keys ORDER BY created"
        )
        return [{**r, "scopes": r["scopes"].split(",")} for r in rows]

    @app.delete("/v1/keys/{key_id}", status_code=204)
    def revoke(key_id: str, request: Request, _: Admin) -> Response:
        if not auth.revoke_key(_state(request).store, key_id):
            raise HTTPException(404, "no such active key")
        return Response(status_code=204)

    @app.post("/v1/webhooks", status_code=201)
    def add_webhook(body: WebhookIn, request: Request, _: Admin) -> dict:
        state = _state(request)
        _check_webhook(body, state.settings)
        hook_id, secret = new_id("wh"), webhooks.new_secret()
        state.store.execute(
            "INSERT INTO webhooks (id, url, secrets, events, created) VALUES (?, ?, ?, ?, ?)",
            (hook_id, body.url, json.dumps([{"secret": secret}]), json.dumps(body.events), time.time()),
        )
        request.state.target = hook_id
        return {"id": hook_id, "url": body.url, "events": body.events, "secret": secret}

    @app.post("/v1/webhooks/{hook_id}/rotate")
    def rotate(
        hook_id: str, request: Request, _: Admin, grace_s: int = Query(86400, ge=0, le=7 * 86400)
    ) -> dict:
        """A new secret; the old ones keep signing for `grace_s` so receivers can switch over."""
        store = _state(request).store
        row = store.one("SELECT * FROM webhooks WHERE id = ?", (hook_id,))
        if row is None:
            raise HTTPException(404, "no such webhook")
        old = [
            {**s, "expires": min(s.get("expires", 1e18), time.time() + grace_s)}
            for s in json.loads(row["secrets"])
        ]
        secret = webhooks.new_secret()
        store.execute(
            "UPDATE webhooks SET secrets = ? WHERE id = ?", (json.dumps([{"secret": secret}, *old]), hook_id)
        )
        return {"id": hook_id, "secret": secret}

    @app.delete("/v1/webhooks/{hook_id}", status_code=204)
    def remove_webhook(hook_id: str, request: Request, _: Admin) -> Response:
        if not _state(request).store.execute(
            "UPDATE webhooks SET disabled = ? WHERE id = ?", (time.time(), hook_id)
        ):
            raise HTTPException(404, "no such webhook")
        return Response(status_code=204)


def _check_webhook(body: WebhookIn, settings: Settings) -> None:
    if set(body.events) - set(webhooks.EVENTS):
        raise HTTPException(422, f"events must be among {webhooks.EVENTS}")
    try:
        webhooks.check_url(body.url, settings)
    except webhooks.UnsafeURL as err:
        raise HTTPException(422, str(err)) from None


def _dataset_routes(app: FastAPI) -> None:
    @app.post("/v1/datasets", status_code=201)
    async def upload(
        request: Request,
        principal: Submitter,
        format: Literal[UPLOAD_FORMATS] = Query("jsonl"),  # type: ignore[valid-type]
        filename: str = Query("upload.jsonl", pattern=r"^[\w.-]{1,100}$"),
        options: str = Query("{}", max_length=4000, description="reader options as JSON (e.g. CSV columns)"),
    ) -> dict:
        """Read the request body with the ingest reader for `format`, check it with the
        canonical schema; the answer has the ledgers and quarantine (file, line, reason)."""
        state = _state(request)
        dataset_id = new_id("ds")
        folder = state.settings.uploads / dataset_id
        path = engine.upload_path(folder, filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            async for chunk in request.stream():
                handle.write(chunk)
        reader_options = _options(options)
        try:
            source = engine.upload_source(format, filename, sha256_file(path), reader_options)
        except ConfigError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(422, str(err)) from None
        try:
            summary = await anyio.to_thread.run_sync(engine.read_upload, folder, source, state.params)
        except Exception as err:  # the stages refused the file as a whole: the caller's input
            log.warning("upload %s not readable: %s", dataset_id, type(err).__name__)
            raise HTTPException(422, f"upload could not be read ({type(err).__name__})") from None
        state.store.execute(
            "INSERT INTO datasets (id, key_id, filename, format, path, summary, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_id,
                principal.key_id,
                filename,
                format,
                str(path),
                json.dumps({**summary, "options": reader_options}),
                time.time(),
            ),
        )
        request.state.target = dataset_id
        return {"dataset_id": dataset_id, **summary}


def _job_routes(app: FastAPI) -> None:
    @app.post("/v1/jobs", status_code=202)
    def submit(body: JobIn, request: Request, principal: Submitter) -> dict:
        state = _state(request)
        if state.store.one("SELECT id FROM datasets WHERE id = ?", (body.dataset_id,)) is None:
            raise HTTPException(404, "no such dataset")
        if body.target not in engine.stage_names(state.settings.repo):
            raise HTTPException(422, f"target must be a stage of dvc.yaml, got {body.target!r}")
        try:
            engine.check_overrides(state.params, body.overrides)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        job_id, now = new_id("job"), time.time()
        state.store.execute(
            "INSERT INTO jobs (id, key_id, dataset_id, overrides, target, status, created, updated)"
            " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
            (job_id, principal.key_id, body.dataset_id, json.dumps(body.overrides), body.target, now, now),
        )
        state.store.event(job_id, "queued")
        request.state.target = job_id
        return {"job_id": job_id, "status": "queued", "links": _links(job_id)}

    @app.get("/v1/jobs/{job_id}")
    def job(job_id: str, request: Request, _: Reader) -> dict:
        return _job_view(_state(request).store, job_id)

    @app.get("/v1/jobs/{job_id}/events")
    async def events(
        job_id: str, request: Request, _: Reader, format: Literal["sse", "ndjson"] = "sse"
    ) -> StreamingResponse:
        """Progress as Server-Sent Events (or NDJSON) until the job completes or fails."""
        store = _state(request).store
        _job(store, job_id)
        media = "text/event-stream" if format == "sse" else "application/x-ndjson"
        return StreamingResponse(_event_stream(store, job_id, format), media_type=media)

    @app.get("/v1/jobs/{job_id}/artifacts/{fmt}")
    def artifacts(job_id: str, fmt: str, request: Request, _: Reader) -> Response:
        """The export folder of one format as a zip (exports are anonymized by construction)."""
        state = _state(request)
        if _job(state.store, job_id)["status"] != "completed":
            raise HTTPException(409, "job has not completed")
        folder = engine.export_dir(state.settings.workspaces / job_id, fmt)
        if folder is None:
            raise HTTPException(404, f"no {fmt!r} export for this job")
        return Response(
            _zip(folder),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{job_id}-{fmt}.zip"'},
        )


def _job_view(store: Store, job_id: str) -> dict:
    """A job's status, per-stage ledgers (counts only) and metrics."""
    row = _job(store, job_id)
    stages = store.all(
        "SELECT stage, status, ledger FROM stages WHERE job_id = ? ORDER BY updated", (job_id,)
    )
    return {
        "job_id": job_id,
        "status": row["status"],
        "target": row["target"],
        "dataset_id": row["dataset_id"],
        "overrides": json.loads(row["overrides"]),
        "attempts": row["attempts"],
        "error": row["error"],
        "metrics": json.loads(row["metrics"] or "{}"),
        "stages": [{**s, "ledger": json.loads(s["ledger"]) if s["ledger"] else None} for s in stages],
        "links": _links(job_id),
    }


def _options(raw: str) -> dict:
    try:
        options = json.loads(raw)
    except json.JSONDecodeError:
        raise HTTPException(422, "options must be a JSON object") from None
    if not isinstance(options, dict):
        raise HTTPException(422, "options must be a JSON object of reader settings")
    return options


def _links(job_id: str) -> dict:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "events": f"{base}/events", "artifacts": f"{base}/artifacts/{{format}}"}


def _job(store: Store, job_id: str) -> dict:
    row = store.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        raise HTTPException(404, "no such job")
    return row


async def _event_stream(store: Store, job_id: str, fmt: str) -> AsyncIterator[str]:
    last = 0
    while True:
        for event in await anyio.to_thread.run_sync(store.events_after, job_id, last):
            last = event["id"]
            payload = json.dumps(
                {"id": event["id"], "ts": event["ts"], "kind": event["kind"], **event["data"]}
            )
            yield (
                f"id: {event['id']}\nevent: {event['kind']}\ndata: {payload}\n\n"
                if fmt == "sse"
                else payload + "\n"
            )
            if event["kind"] in TERMINAL:
                return
        await asyncio.sleep(0.5)


def _zip(folder) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _score_route(app: FastAPI) -> None:
    @app.post("/v1/score")
    async def score(request: Request, _: Scored) -> StreamingResponse:
        """NDJSON conversations in, one NDJSON result per conversation out as soon as it is
        scored: anonymized turns, six sub-metrics, quality, safety, crisis flags, tier. A bad
        record gets an error line naming its line and reason; the stream goes on."""
        state = _state(request)
        if state.scorer is None:
            raise HTTPException(
                503, "models are still loading" if not state.scorer_error else "scorer unavailable"
            )
        return DuplexStream(_score_stream(request, state), media_type="application/x-ndjson")


class DuplexStream(StreamingResponse):
    """A response streamed while the request body is still being read. Starlette's own
    StreamingResponse (below ASGI spec 2.4) listens for a disconnect by consuming `receive`,
    which would swallow the request body; here the body reader sees the disconnect instead."""

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.stream_response(send)
        except OSError:
            raise ClientDisconnect() from None


async def _line_batches(request: Request) -> AsyncIterator[list[tuple[int, bytes]]]:
    """Complete lines as they arrive, grouped by the chunk that completed them."""
    buffer, number = b"", 0
    async for chunk in request.stream():
        *complete, buffer = (buffer + chunk).split(b"\n")
        batch = []
        for line in complete:
            number += 1
            if line.strip():
                batch.append((number, line))
        for start in range(0, len(batch), STREAM_BATCH):
            yield batch[start : start + STREAM_BATCH]
    if buffer.strip():
        yield [(number + 1, buffer)]


async def _score_stream(request: Request, state: State) -> AsyncIterator[str]:
    async for batch in _line_batches(request):
        items = [(n, _decode(n, raw)) for n, raw in batch]
        rows = [item for _, item in items if isinstance(item, dict)]
        started = time.perf_counter()
        results = iter(await anyio.to_thread.run_sync(_score_locked, state, rows))
        per_row = (time.perf_counter() - started) / max(1, len(rows))
        for number, item in items:
            out = next(results) if isinstance(item, dict) else {"error": item.reason, "detail": item.detail}
            state.metrics.conversations.labels("error" if "error" in out else "scored").inc()
            yield json.dumps({"line": number, **out, "seconds": round(per_row, 6)}, default=str) + "\n"


def _decode(number: int, raw: bytes):
    try:
        return engine.stream_record(number, raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return _Bad("invalid_utf8", f"invalid UTF-8 at byte {err.start}")


class _Bad:
    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail


def _score_locked(state: State, rows: list[dict]) -> list[dict]:
    with state.score_lock:
        return state.scorer.score(rows)
