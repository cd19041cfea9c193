"""The worker process's own connection pool for our tables (procrastinate keeps its own)."""

from __future__ import annotations

import asyncio

import httpx
from psycopg_pool import AsyncConnectionPool

from gateway import db, logs, settings
from gateway.webhooks import attempts

_pool: AsyncConnectionPool[db.Conn] | None = None
_lock = asyncio.Lock()


async def pool() -> AsyncConnectionPool[db.Conn]:
    global _pool
    if _pool is None:
        async with _lock:
            if _pool is None:
                config = settings.get()
                logs.configure(config.log_level)
                p = db.open_pool(
                    config.database_url,
                    min_size=2,
                    max_size=max(4, config.worker_concurrency // 2),
                )
                await p.open(wait=True)
                _pool = p
    return _pool


_http: httpx.AsyncClient | None = None


def http() -> httpx.AsyncClient:
    """One HTTP client per worker process: connection reuse across deliveries."""
    global _http
    if _http is None:
        _http = attempts.client()
    return _http
