"""/health"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import psycopg_pool
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from gateway import cache, deps, jobstatus, serialize
from gateway.api import deps as api_deps

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    worker: str
    timestamp: str | None


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Database unreachable"}},
)
async def health(request: Request) -> Response:
    now = serialize.timestamp(datetime.now(UTC))
    redis_ok = await cache.ping(deps.redis_of(request))
    try:
        async with deps.pool_of(request).connection(timeout=2) as conn:
            worker = await jobstatus.worker_status(conn, deps.config_of(request))
    except (psycopg.Error, psycopg_pool.PoolTimeout):
        return api_deps.json_response(
            503,
            {
                "status": "unhealthy",
                "database": "disconnected",
                "redis": "connected" if redis_ok else "disconnected",
                "worker": "unknown",
                "timestamp": now,
            },
        )
    return api_deps.json_response(
        200,
        {
            "status": "healthy",
            "database": "connected",
            "redis": "connected" if redis_ok else "disconnected",
            "worker": worker,
            "timestamp": now,
        },
    )
