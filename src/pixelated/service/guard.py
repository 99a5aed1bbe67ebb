"""ASGI middleware in front of every route: keys in query strings are refused, request bodies
are capped (413), and each request is counted, timed and audited (never with its body or
query string, so neither a key nor conversation text reaches a log)."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pixelated.service.store import Store

log = logging.getLogger("pixelated.service.access")
KEY_PARAMS = {"api_key", "apikey", "key", "token", "access_token", "auth", "authorization"}


class Metrics:
    """Prometheus series of one app (its own registry, so tests can run several apps)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pe_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram("pe_request_seconds", "Request latency", ["route"], registry=self.registry)
        self.queue = Gauge("pe_queue_depth", "Jobs queued or running", registry=self.registry)
        self.conversations = Counter(
            "pe_conversations_processed",
            "Conversations through /v1/score",
            ["outcome"],
            registry=self.registry,
        )


async def _reply(send, status: int, detail: str, headers: dict | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


class Guard:
    def __init__(self, app, max_body: int, metrics: Metrics, store: Store):
        self.app, self.max_body, self.metrics, self.store = app, max_body, metrics, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), {"code": 500}
        query = {k.lower() for k, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"))}
        length = dict(scope["headers"]).get(b"content-length")
        if query & KEY_PARAMS:
            status["code"] = 401
            await _reply(send, 401, "API keys are accepted only in the Authorization: Bearer header")
        elif length is not None and int(length) > self.max_body:
            status["code"] = 413
            await _reply(send, 413, f"request body over {self.max_body} bytes")
        else:
            await self._forward(scope, receive, send, status)
        self._record(scope, status["code"], time.perf_counter() - started)

    async def _forward(self, scope, receive, send, status):
        seen = {"bytes": 0, "started": False}

        async def counted_receive():
            message = await receive()
            seen["bytes"] += len(message.get("body", b""))
            if seen["bytes"] > self.max_body:
                raise BodyTooLarge
            return message

        async def watched_send(message):
            if message["type"] == "http.response.start":
                seen["started"], status["code"] = True, message["status"]
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            status["code"] = 413
            if not seen["started"]:
                await _reply(send, 413, f"request body over {self.max_body} bytes")

    def _record(self, scope, code: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.requests.labels(scope["method"], route, str(code)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        state = scope.get("state") or {}
        target = state.get("target") or next(iter((scope.get("path_params") or {}).values()), None)
        if route.startswith("/v1/") or code in (401, 403, 413, 429):
            self.store.audit(state.get("key_id"), f"{scope['method']} {route}", target, code)
        log.info("%s %s %d %.3fs", scope["method"], route, code, seconds)
