"""Webhooks per the Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one signature per active
secret (so a receiver keeps working while a secret is rotated), retried with exponential
backoff and jitter. Callback hosts must be on an allow-list and resolve to public addresses
unless private ones are explicitly allowed (SSRF guard)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import time
from urllib.parse import urlsplit

import httpx

from pixelated.service.settings import Settings
from pixelated.service.store import Store, new_id

EVENTS = ("job.completed", "job.failed")
TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secrets_: list[str], headers: dict, body: bytes, now: float | None = None) -> bool:
    """What a receiver does: a fresh timestamp and one matching v1 signature (constant time)."""
    timestamp = int(headers["webhook-timestamp"])
    if abs((now or time.time()) - timestamp) > TOLERANCE_S:
        return False
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    for secret in secrets_:
        expected = sign(secret, headers["webhook-id"], timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, o) for o in offered):
            return True
    return False


class UnsafeURL(ValueError):
    """A callback URL the SSRF guard refuses."""


def check_url(url: str, settings: Settings) -> None:
    """Refuse URLs off the allow-list, with credentials, or resolving to private addresses."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise UnsafeURL("callback must be an http(s) URL with a host and no credentials")
    if host not in settings.webhook_hosts and "*" not in settings.webhook_hosts:
        raise UnsafeURL(f"host {host!r} is not on the webhook allow-list")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        raise UnsafeURL(f"host {host!r} does not resolve") from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global and not settings.webhook_allow_private:
            raise UnsafeURL(f"host {host!r} resolves to a non-public address")


def enqueue(store: Store, event: str, data: dict) -> list[str]:
    """One delivery per subscribed endpoint; the message id doubles as the idempotency key."""
    ids = []
    for endpoint in store.all("SELECT * FROM webhooks WHERE disabled IS NULL"):
        if event not in json.loads(endpoint["events"]):
            continue
        msg_id = new_id("msg")
        body = json.dumps({"type": event, "timestamp": int(time.time()), "data": data}, sort_keys=True)
        store.execute(
            "INSERT INTO deliveries (id, endpoint_id, event, body, next_at, status, created)"
            " VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            (msg_id, endpoint["id"], event, body, time.time(), time.time()),
        )
        ids.append(msg_id)
    return ids


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter: uniform in [base*2^(n-1)/2, base*2^(n-1)]."""
    ceiling = base * 2 ** (attempt - 1)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def deliver_due(store: Store, settings: Settings, client: httpx.Client) -> int:
    """Send every due delivery once; reschedule failures or give up after the last attempt."""
    due = store.all("SELECT * FROM deliveries WHERE status = 'pending' AND next_at <= ?", (time.time(),))
    for delivery in due:
        endpoint = store.one("SELECT * FROM webhooks WHERE id = ?", (delivery["endpoint_id"],))
        status = _send(endpoint, delivery, settings, client) if endpoint else None
        attempts = delivery["attempts"] + 1
        if status is not None and 200 <= status < 300:
            state, next_at = "delivered", None
        elif attempts >= settings.webhook_attempts or endpoint is None:
            state, next_at = "failed", None
        else:
            state, next_at = "pending", time.time() + backoff(attempts, settings.webhook_backoff_s)
        store.execute(
            "UPDATE deliveries SET attempts = ?, status = ?, next_at = COALESCE(?, next_at), last_status = ?"
            " WHERE id = ?",
            (attempts, state, next_at, status, delivery["id"]),
        )
    return len(due)


def _send(endpoint: dict, delivery: dict, settings: Settings, client: httpx.Client) -> int | None:
    try:
        check_url(endpoint["url"], settings)  # re-checked at send time: DNS may have changed
    except UnsafeURL:
        return None
    timestamp = int(time.time())
    body = delivery["body"].encode()
    active = [s["secret"] for s in json.loads(endpoint["secrets"]) if s.get("expires", 1e18) > time.time()]
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, delivery["id"], timestamp, body) for s in active),
    }
    try:
        return client.post(endpoint["url"], content=body, headers=headers, follow_redirects=False).status_code
    except httpx.HTTPError:
        return None
