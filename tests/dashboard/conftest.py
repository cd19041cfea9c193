"""The dashboard app in-process (ASGI transport) against the test database, and a login helper."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway import db, merchants, settings
from gateway.dashboard import app as dashboard

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
async def dashboard_app(database: str, config: settings.Settings) -> AsyncIterator[Any]:
    application = dashboard.create_app(config)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def dash(dashboard_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dashboard_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def owner(conn: db.Conn, config: settings.Settings) -> merchants.NewMerchant:
    """A fresh merchant with a dashboard password (and its secrets in clear, from create)."""
    suffix = os.urandom(6).hex()
    return await merchants.create(
        conn,
        name=f"Shop {suffix}",
        email=f"shop{suffix}@example.com",
        password=PASSWORD,
        config=config,
    )


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
