"""Shared fixtures. The environment is fixed here, before any gateway module reads settings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
# Migrated and demo-seeded once; the session database and every end-to-end test's database are
# copies of it (CREATE DATABASE ... TEMPLATE).
_TEMPLATE = _DB_NAME + "_tpl"
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
from tests import helpers  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    """The session's database: a copy of the migrated template."""
    asyncio.run(cli.prepare(services.with_database(_SERVER, _TEMPLATE)))
    try:
        services.create_database(_SERVER, _DB_NAME, template=_TEMPLATE)
        yield DATABASE_URL
    finally:
        services.drop_database(_SERVER, _DB_NAME)
        services.drop_database(_SERVER, _TEMPLATE)


@contextlib.contextmanager
def template_copy() -> Iterator[str]:
    """A database of its own, migrated and demo-seeded like the session's; dropped after."""
    name = services.fresh_database_name()
    url = services.create_database(_SERVER, name, template=_TEMPLATE)
    try:
        yield url
    finally:
        services.drop_database(_SERVER, name)


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    database: str,
    config: settings.Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """Where this test's rows live: `conn`, `client`, `merchant` and `auth` all use it.

    Most tests share the session database (fresh merchants keep their rows apart). A test marked
    `e2e` gets a template copy of its own, which is also DATABASE_URL for every process it
    starts: the session database autocommits, so earlier tests' jobs pile up there, and a real
    worker on it would wait behind that backlog (and could take jobs that are not its test's).
    `config` is loaded before DATABASE_URL changes: it stays the session's."""
    if request.node.get_closest_marker("e2e") is None:
        yield database
        return
    with template_copy() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture(scope="session")
def config() -> settings.Settings:
    return settings.load()


@pytest.fixture(scope="session")
async def api(database: str, config: settings.Settings) -> AsyncIterator[Any]:
    application = app_module.create_app(config)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(
    api: Any, database_url: str, config: settings.Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process. On a database of the test's own (e2e), an app of its own on it."""
    if database_url != DATABASE_URL:
        own = config.model_copy(update={"database_url": database_url})
        async with helpers.app_client(own) as c:
            yield c
        return
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[db.Conn]:
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as c:
        await c.execute("SET TIME ZONE 'UTC'")
        yield c


@pytest.fixture
async def merchant(conn: db.Conn, config: settings.Settings) -> merchants.NewMerchant:
    """A fresh merchant per test: tests never see each other's rows. Its secrets in clear are
    on the object (`api_secret`, `webhook_secret`), as `merchants.create` returns them once."""
    return await helpers.new_merchant(conn, name="M", config=config)


@pytest.fixture
def auth(merchant: merchants.NewMerchant) -> dict[str, str]:
    return helpers.auth_of(merchant)


@pytest.fixture
async def other_auth(conn: db.Conn, config: settings.Settings) -> dict[str, str]:
    return helpers.auth_of(await helpers.new_merchant(conn, name="Other", config=config))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["description"], str) and body["error"]["description"]
    return body
