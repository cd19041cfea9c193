"""Rate limits in Redis: per API key on the private API, per client address on the public
checkout endpoints. GCRA (one timestamp per bucket, no burst at window edges), evaluated in one
Lua call, so a request costs one Redis round trip. Redis down → requests are served."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import cache, errors

PERIOD_MS = 60_000
PREFIX = "rl:v1:"
PUBLIC_PATH = re.compile(r"^/api/v1/(orders/[^/]+/public|payments/public|payments/[^/]+/public)$")
# The checkers' helpers (/api/v1/test/*) and everything outside the API are not limited.
LIMITED_PATH = re.compile(r"^/api/v1/(?!test/)")

# KEYS[1] bucket; ARGV[1] requests per period; ARGV[2] period (ms). The bucket holds the
# "theoretical arrival time" (TAT) in ms. Returns {allowed, remaining, retry_after_ms, reset_ms}.
# Redis's own clock is used, so API processes with skewed clocks agree.
_GCRA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((now - allow_at) / interval + 1e-9), 0, math.ceil(new_tat - now)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


def _seconds(ms: float) -> int:
    return max(1, math.ceil(ms / 1000))


class Limiter:
    def __init__(self, client: cache.Client) -> None:
        self.client = client
        self.script = client.register_script(_GCRA)

    async def hit(self, bucket: str, limit: int) -> Decision | None:
        """Count one request against `bucket`; None when Redis could not be asked."""
        result: Any = await cache.call(
            self.client, lambda _: self.script(keys=[PREFIX + bucket], args=[limit, PERIOD_MS])
        )
        if result is None:
            return None
        allowed, remaining, retry_ms, reset_ms = (int(v) for v in result)
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=max(0, remaining),
            retry_after=_seconds(retry_ms),
            reset=_seconds(reset_ms),
        )


def bucket(scope: Scope, per_key: int, public: int) -> tuple[str, int] | None:
    """(bucket, limit) for this request, or None when it is not limited."""
    path: str = scope["path"]
    if not LIMITED_PATH.match(path):
        return None
    client = scope.get("client")
    address = client[0] if client else "unknown"
    if not PUBLIC_PATH.match(path):
        for name, value in scope["headers"]:
            if name == b"x-api-key" and value:
                # Hashed: counters need no credential material in Redis.
                return "key:" + hashlib.sha256(value).hexdigest()[:32], per_key
    # Public endpoints, and private ones called without a key (they answer 401 anyway).
    return "ip:" + address, public


class Middleware:
    """Pure ASGI: the 429 is decided before any routing, body parsing or database work."""

    def __init__(self, app: ASGIApp, per_key_limit: int, public_limit: int) -> None:
        self.app = app
        self.per_key_limit = per_key_limit
        self.public_limit = public_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        target = bucket(scope, self.per_key_limit, self.public_limit)
        limiter: Limiter | None = getattr(scope["app"].state, "ratelimiter", None)
        decision = None
        if target is not None and limiter is not None:
            decision = await limiter.hit(*target)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            await _reject(send, decision)
            return
        extra = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _reject(send: Send, decision: Decision) -> None:
    error = errors.RateLimited(f"Too many requests; retry after {decision.retry_after} second(s)")
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), *decision.headers()],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(error.body())})
