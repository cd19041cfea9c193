"""The Redis client. Redis is optional at run time: callers treat `None`/exceptions from here as
"no cache", and an outage is logged once when it starts and once when it ends."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gateway.redis")

Client = aioredis.Redis
T = TypeVar("T")

# While Redis is down, one request per this many seconds probes it; the rest skip it at once
# instead of each paying a connect attempt on the hot path.
PROBE_INTERVAL = 1.0


class Health:
    """Tracks whether Redis answered last time, so an outage is logged once, not per request."""

    def __init__(self) -> None:
        self.down = False
        self._probe_at = 0.0

    def failed(self, error: BaseException) -> None:
        self._probe_at = time.monotonic() + PROBE_INTERVAL
        if not self.down:
            self.down = True
            log.warning("redis unreachable, continuing without it: %s", type(error).__name__)

    def ok(self) -> None:
        if self.down:
            self.down = False
            log.warning("redis reachable again")

    def worth_trying(self) -> bool:
        return not self.down or time.monotonic() >= self._probe_at


# One tracker per client, so two apps in one process (tests) do not share an outage.
_healths: weakref.WeakKeyDictionary[Client, Health] = weakref.WeakKeyDictionary()


def health_of(client: Client) -> Health:
    found = _healths.get(client)
    if found is None:
        found = _healths[client] = Health()
    return found


def connect(url: str) -> Client:
    return aioredis.from_url(
        url,
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
        health_check_interval=0,
        retry_on_timeout=False,
        decode_responses=False,
    )


async def ping(client: Client) -> bool:
    tracker = health_of(client)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        tracker.failed(error)
        return False
    tracker.ok()
    return True


async def call(client: Client, operation: Callable[[Client], Awaitable[T]]) -> T | None:
    """Run one Redis operation, failing open: None when Redis is down (logged once per outage)."""
    tracker = health_of(client)
    if not tracker.worth_trying():
        return None
    try:
        result = await operation(client)
    except (RedisError, OSError) as error:
        tracker.failed(error)
        return None
    tracker.ok()
    return result
