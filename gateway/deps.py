"""FastAPI dependencies every web app shares: the pool and the settings each app keeps on
`app.state`, and a pooled connection per request. The only top-level module that imports a web
framework; the apps' own dependencies live in their packages.

The dependencies are `async def`: FastAPI runs a plain `def` dependency in a thread pool, a
thread handoff per dependency per request. The plain accessors are for code that already has
the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from gateway import cache, db, settings


def pool_of(request: Request) -> db.Pool:
    p: db.Pool = request.app.state.pool
    return p


def config_of(request: Request) -> settings.Settings:
    s: settings.Settings = request.app.state.settings
    return s


def redis_of(request: Request) -> cache.Client:
    r: cache.Client = request.app.state.redis
    return r


async def connection(request: Request) -> AsyncIterator[db.Conn]:
    async with pool_of(request).connection() as conn:
        yield conn


async def config(request: Request) -> settings.Settings:
    return config_of(request)


async def redis(request: Request) -> cache.Client:
    return redis_of(request)


Conn = Annotated[db.Conn, Depends(connection)]
Config = Annotated[settings.Settings, Depends(config)]
Redis = Annotated[cache.Client, Depends(redis)]
