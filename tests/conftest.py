"""Shared fixtures. The environment is fixed here, before any gateway module reads settings."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests import services

_SERVER = services.postgres_server_url()
_DB_NAME = services.fresh_database_name()
DATABASE_URL = services.with_database(_SERVER, _DB_NAME)
REDIS_URL = services.redis_url()

os.environ.update(
    {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "1000",
        "WEBHOOK_RETRY_INTERVALS_TEST": "true",
        "LOG_LEVEL": "WARNING",
        # Every test client comes from 127.0.0.1, and the Redis server is shared with other
        # runs: the per-address limit would throttle the suite. tests/test_ratelimit.py builds
        # apps with small limits of its own.
        "GATEWAY_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
        # One server key for this run and every process it starts; nothing is written to the
        # checkout's .data/ directory.
        "GATEWAY_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
)

from gateway import cli, db, merchants, settings  # noqa: E402
from gateway.api import app as app_module  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    asyncio.run(cli.prepare(DATABASE_URL))
    yield DATABASE_URL
    services.drop_database(_SERVER, _DB_NAME)


@pytest.fixture(scope="session")
def config() -> settings.Settings:
    return settings.load()


@pytest.fixture(scope="session")
async def api(database: str, config: settings.Settings) -> AsyncIterator[Any]:
    application = app_module.create_app(config)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(api: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def conn(database: str) -> AsyncIterator[db.Conn]:
    async with await psycopg.AsyncConnection.connect(
        database, autocommit=True, row_factory=dict_row
    ) as c:
        await c.execute("SET TIME ZONE 'UTC'")
        yield c


@pytest.fixture
async def merchant(conn: db.Conn, config: settings.Settings) -> merchants.NewMerchant:
    """A fresh merchant per test: tests never see each other's rows. Its secrets in clear are
    on the object (`api_secret`, `webhook_secret`), as `merchants.create` returns them once."""
    suffix = os.urandom(6).hex()
    return await merchants.create(
        conn, name=f"M {suffix}", email=f"m{suffix}@example.com", config=config
    )


@pytest.fixture
def auth(merchant: merchants.NewMerchant) -> dict[str, str]:
    return {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}


@pytest.fixture
async def other_auth(conn: db.Conn, config: settings.Settings) -> dict[str, str]:
    suffix = os.urandom(6).hex()
    other = await merchants.create(
        conn, name="Other", email=f"o{suffix}@example.com", config=config
    )
    return {"X-Api-Key": other.api_key, "X-Api-Secret": other.api_secret}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["description"], str) and body["error"]["description"]
    return body
