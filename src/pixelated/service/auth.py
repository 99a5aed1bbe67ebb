"""API keys, scopes and per-key rate limits.

A key is `pe_<key id>_<secret>`; only a scrypt hash of the secret is stored, and it is
compared in constant time. The id part finds the row without scanning every hash. Keys are
read from the `Authorization: Bearer` header only.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass

from pixelated.service.store import Store, new_id

SCOPES = ("score", "submit", "read", "admin")
# scrypt cost: ~20 ms per check on one core; enough to make an offline guess expensive
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def create_key(store: Store, name: str, scopes: list[str]) -> tuple[str, dict]:
    """A new key: the token is returned once and never stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {SCOPES}; got {sorted(scopes)}")
    key_id = new_id("key").removeprefix("key_")
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    store.execute(
        "INSERT INTO api_keys (id, name, salt, hash, scopes, created) VALUES (?, ?, ?, ?, ?, ?)",
        (key_id, name, salt, _hash(secret, salt), ",".join(sorted(set(scopes))), time.time()),
    )
    return f"pe_{key_id}_{secret}", {"id": key_id, "name": name, "scopes": sorted(set(scopes))}


def revoke_key(store: Store, key_id: str) -> bool:
    return (
        store.execute(
            "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id)
        )
        > 0
    )


def any_keys(store: Store) -> bool:
    return store.one("SELECT 1 AS x FROM api_keys WHERE revoked IS NULL LIMIT 1") is not None


def verify(store: Store, token: str) -> Principal | None:
    """The key's principal, or None for a malformed, unknown, wrong or revoked key. A dummy
    hash is computed for unknown ids too, so timing does not tell which ids exist."""
    parts = token.split("_", 2)
    key_id, secret = (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "pe" else ("", token)
    row = store.one("SELECT * FROM api_keys WHERE id = ?", (key_id,)) if key_id else None
    salt = row["salt"] if row else b"\0" * 16
    digest = _hash(secret, salt)
    if row is None or not hmac.compare_digest(digest, row["hash"]) or row["revoked"] is not None:
        return None
    return Principal(row["id"], row["name"], frozenset(row["scopes"].split(",")))


class RateLimiter:
    """A token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0 when allowed; otherwise the seconds until a request would be (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return max(1.0, math.ceil((1 - tokens) / self.rate))
