"""What routes receive: a pooled connection, the authenticated merchant, JSON responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool

from gateway import cache, db, merchants, settings


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json_bytes(data),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def raw_json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers
    )


def pool(request: Request) -> AsyncConnectionPool[db.Conn]:
    p: AsyncConnectionPool[db.Conn] = request.app.state.pool
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


async def authenticated_merchant(
    request: Request,
    conn: Conn,
    x_api_key: Annotated[str | None, Header()] = None,
    x_api_secret: Annotated[str | None, Header()] = None,
) -> merchants.Merchant:
    merchant = await merchants.authenticate(conn, x_api_key, x_api_secret)
    request.scope["state"]["merchant_id"] = merchant.id
    return merchant


Merchant = Annotated[merchants.Merchant, Depends(authenticated_merchant)]
