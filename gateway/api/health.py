"""/health, as load balancers poll it: many times a second per instance, so it answers from a
snapshot of the checks (the database with the worker heartbeats, and Redis) taken at most
`max_age` seconds earlier (GATEWAY_HEALTH_MAX_AGE_SECONDS, default 1). One request refreshes a
stale snapshot and the requests arriving meanwhile wait for that refresh instead of starting
their own, so the database sees at most one health query per process per `max_age`.

`Health` answers GET /health in pure ASGI, ahead of routing and the rate limit; the route below
documents it (and answers if the app is ever run without the middleware)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import psycopg_pool
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import cache, db, jobstatus, serialize, settings
from gateway.api import deps as api_deps

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    worker: str
    timestamp: str | None


@dataclass(frozen=True)
class Snapshot:
    database: bool
    redis: bool
    worker: str
    taken: float

    def answer(self) -> tuple[int, bytes]:
        body = {
            "status": "healthy" if self.database else "unhealthy",
            "database": "connected" if self.database else "disconnected",
            "redis": "connected" if self.redis else "disconnected",
            "worker": self.worker if self.database else "unknown",
            "timestamp": serialize.timestamp(datetime.now(UTC)),
        }
        return (200 if self.database else 503), orjson.dumps(body)


class Probe:
    def __init__(
        self,
        pool: db.Pool,
        redis: cache.Client,
        config: settings.Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.config = config
        self.max_age = config.health_max_age_seconds
        self.clock = clock
        self._latest: Snapshot | None = None
        self._refreshing: asyncio.Task[Snapshot] | None = None

    async def snapshot(self) -> Snapshot:
        latest = self._latest
        if latest is not None and self.clock() - latest.taken < self.max_age:
            return latest
        task = self._refreshing
        if task is None:
            task = self._refreshing = asyncio.create_task(self._check())
            task.add_done_callback(self._refreshed)
        # shield: a client that hangs up must not cancel the refresh others are waiting for.
        return await asyncio.shield(task)

    def _refreshed(self, task: asyncio.Task[Snapshot]) -> None:
        self._refreshing = None
        if not task.cancelled() and task.exception() is None:
            self._latest = task.result()

    async def _check(self) -> Snapshot:
        redis_ok = await cache.ping(self.redis)
        try:
            async with self.pool.connection(timeout=2) as conn:
                worker = await jobstatus.worker_status(conn, self.config)
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            return Snapshot(False, redis_ok, "unknown", self.clock())
        return Snapshot(True, redis_ok, worker, self.clock())


def probe_of(app: Any) -> Probe:
    found: Probe = app.state.health
    return found


@dataclass(frozen=True)
class _Route:
    """Stands in for the route RequestContext reads its metrics label from."""

    path: str


_HEALTH_ROUTE = _Route("/health")


class Health:
    """Pure ASGI: GET and HEAD /health, answered from the probe's snapshot."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/health"
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = _HEALTH_ROUTE
        status, body = (await probe_of(scope["app"]).snapshot()).answer()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Database unreachable"}},
)
async def health(request: Request) -> Response:
    status, body = (await probe_of(request.app).snapshot()).answer()
    return api_deps.raw_json_response(status, body)
