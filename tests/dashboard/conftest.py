"""The dashboard app in-process (ASGI transport) against the test database, and a login helper."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from gateway import db, merchants, settings
from gateway.dashboard import app as dashboard
from tests.helpers import new_merchant

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
async def dashboard_app(database: str, config: settings.Settings) -> AsyncIterator[Any]:
    application = dashboard.create_app(config)
    async with application.router.lifespan_context(application):
        yield application


def random_address() -> str:
    """A client address of its own: login throttling counts failures per address, and a test
    must not spend another's allowance (or be throttled by it)."""
    return "10." + ".".join(str(b) for b in os.urandom(3))


def client_for(app: Any, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=(address or random_address(), 50000)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def dash(dashboard_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dashboard_app) as c:
        yield c


@pytest.fixture(scope="session")
async def password_hash(database: str, config: settings.Settings) -> str:
    """PASSWORD hashed once per session (scrypt at the production cost is slow on purpose),
    taken from a merchant created the ordinary way."""
    async with await psycopg.AsyncConnection.connect(
        database, autocommit=True, row_factory=dict_row
    ) as c:
        suffix = os.urandom(6).hex()
        made = await merchants.create(
            c,
            name=f"Hash {suffix}",
            email=f"hash{suffix}@example.com",
            password=PASSWORD,
            config=config,
        )
    assert made.password_hash is not None
    return made.password_hash


@pytest.fixture
async def owner(
    conn: db.Conn, config: settings.Settings, password_hash: str
) -> merchants.NewMerchant:
    """A fresh merchant whose dashboard password is PASSWORD, with its secrets in clear (as
    `merchants.create` returns them once)."""
    created = await new_merchant(conn, config=config)
    await conn.execute(
        "UPDATE merchants SET password_hash = %(h)s WHERE id = %(id)s",
        {"h": password_hash, "id": created.id},
    )
    return dataclasses.replace(created, password_hash=password_hash)


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
    )


@pytest.fixture
async def logged_in(dash: httpx.AsyncClient, owner: merchants.NewMerchant) -> httpx.AsyncClient:
    r = await login(dash, owner.email)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard", r.text
    return dash


async def page_csrf(client: httpx.AsyncClient, path: str = "/dashboard") -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return csrf_from(r.text)
