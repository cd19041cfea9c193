"""The Redis client. Redis is optional at run time: callers treat `None`/exceptions from here as
"no cache", and an outage is logged once when it starts and once when it ends."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gateway.redis")

Client = aioredis.Redis


class Health:
    """Tracks whether Redis answered last time, so an outage is logged once, not per request."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, error: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("redis unreachable, continuing without it: %s", type(error).__name__)

    def ok(self) -> None:
        if self.down:
            self.down = False
            log.warning("redis reachable again")


health = Health()


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
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        health.failed(error)
        return False
    health.ok()
    return True


RedisErrors = (RedisError, OSError)
