"""FastAPI dependencies every web app shares: the pool and the settings each app keeps on
`app.state`, and a pooled connection per request. The only top-level module that imports a web
framework; the apps' own dependencies live in their packages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from gateway import cache, db, settings


def pool(request: Request) -> db.Pool:
    p: db.Pool = request.app.state.pool
    return p


async def connection(request: Request) -> AsyncIterator[db.Conn]:
    async with pool(request).connection() as conn:
        yield conn


Conn = Annotated[db.Conn, Depends(connection)]


def config(request: Request) -> settings.Settings:
    s: settings.Settings = request.app.state.settings
    return s


Config = Annotated[settings.Settings, Depends(config)]


def redis(request: Request) -> cache.Client:
    r: cache.Client = request.app.state.redis
    return r


Redis = Annotated[cache.Client, Depends(redis)]
