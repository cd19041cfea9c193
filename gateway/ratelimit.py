"""Rate limits in Redis: GCRA (one timestamp per bucket, no burst at window edges), evaluated in
one Lua call, so a request costs one Redis round trip. Redis down → no decision, and the caller
serves the request. Which requests count against which bucket is the API's middleware's call."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gateway import cache

PERIOD_MS = 60_000
PREFIX = "rl:v1:"

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
