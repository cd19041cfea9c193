"""Rate limits in Redis: GCRA (one timestamp per bucket, no burst at window edges), evaluated in
one Lua call, so a request costs at most one Redis round trip however many buckets decide it.
Redis down → no decision, and the caller serves the request. Which requests count against which
bucket is the API's middleware's call."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from gateway import cache

PERIOD_MS = 60_000
PREFIX = "rl:v1:"

# KEYS: the buckets that decide one request, in order; ARGV[i]: requests per period of KEYS[i];
# ARGV[#KEYS + 1]: the period (ms). Every bucket but the last must have room for one more
# request (looked at, not charged); the last is charged. A bucket holds its "theoretical
# arrival time" (TAT) in ms. Returns {index of the deciding bucket, allowed, remaining,
# retry_after_ms, reset_ms}. Redis's own clock is used, so API processes with skewed clocks
# agree. One script, not one call per bucket: one round trip, and no request can slip between
# the look and the charge.
_GCRA = """
local period = tonumber(ARGV[#KEYS + 1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  local interval = period / tonumber(ARGV[i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  if allow_at > now then
    return {i, 0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
  end
  if i == #KEYS then
    redis.call('SET', KEYS[i], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
    return {i, 1, math.floor((now - allow_at) / interval + 1e-9), 0, math.ceil(new_tat - now)}
  end
end
"""


@dataclass(frozen=True)
class Bucket:
    """One counter: its Redis key (without PREFIX), its requests per minute, and the policy
    name that RateLimit-Policy reports when this bucket decided."""

    key: str
    limit: int
    policy: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int
    reset_ms: int
    policy: str

    @property
    def retry_after(self) -> int:
        """Seconds until the next request fits (Retry-After)."""
        return _seconds(self.retry_after_ms)

    @property
    def reset(self) -> int:
        """Seconds until the bucket is empty again (RateLimit-Reset)."""
        return _seconds(self.reset_ms)

    def headers(self) -> list[tuple[bytes, bytes]]:
        window = PERIOD_MS // 1000
        headers = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
            # IETF draft (httpapi-ratelimit-headers): which limit this answer is about.
            (b"ratelimit-policy", f'{self.limit};w={window};name="{self.policy}"'.encode()),
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

    async def hit(self, *buckets: Bucket) -> Decision | None:
        """Charge the last of `buckets` if every earlier one has room; None when Redis could
        not be asked."""
        keys = [PREFIX + b.key for b in buckets]
        args = [*(b.limit for b in buckets), PERIOD_MS]
        result: Any = await cache.call(self.client, lambda _: self.script(keys=keys, args=args))
        if result is None:
            return None
        index, allowed, remaining, retry_ms, reset_ms = (int(v) for v in result)
        bucket = buckets[index - 1]
        return Decision(
            allowed=bool(allowed),
            limit=bucket.limit,
            remaining=max(0, remaining),
            retry_after_ms=retry_ms,
            reset_ms=reset_ms,
            policy=bucket.policy,
        )


class Refusals:
    """Buckets that Redis last said were full, kept in process until the time it said they
    have room again. A request for one of them is refused here: no Redis call, and none of the
    work (a credential lookup) that the bucket exists to spare. Each process learns a refusal
    from its own first refused request; bounded, so a flood of addresses cannot grow it."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._until: dict[str, tuple[float, float, Decision]] = {}

    def remember(self, bucket: Bucket, decision: Decision) -> None:
        if decision.allowed:
            return
        now = time.monotonic()
        if len(self._until) >= self.size:
            self._forget_expired(now)
            if len(self._until) >= self.size:
                del self._until[next(iter(self._until))]  # the oldest entry
        self._until[bucket.key] = (
            now + decision.retry_after_ms / 1000,
            now + decision.reset_ms / 1000,
            decision,
        )

    def get(self, bucket: Bucket) -> Decision | None:
        entry = self._until.get(bucket.key)
        if entry is None:
            return None
        retry_at, reset_at, decision = entry
        now = time.monotonic()
        if now >= retry_at:
            del self._until[bucket.key]
            return None
        return Decision(
            allowed=False,
            limit=decision.limit,
            remaining=0,
            retry_after_ms=math.ceil((retry_at - now) * 1000),
            reset_ms=math.ceil((reset_at - now) * 1000),
            policy=decision.policy,
        )

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, (retry_at, _, _) in self._until.items() if retry_at <= now]:
            del self._until[key]
