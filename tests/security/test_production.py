"""Issue 11, critical: the published test credentials must be dead in production. Each test
attacks a production configuration (GATEWAY_ENV=production, read through settings.load() like a
real start) the way someone who has read the README would, and checks the demo's side where
the demo must stay as it is."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from gateway import cli, db, merchants, settings
from gateway.checkout import app as checkout
from gateway.dashboard import app as dashboard
from gateway.dashboard import auth, sessions
from tests import conftest, helpers
from tests.dashboard.conftest import PASSWORD, login
from tests.test_cli import CREDENTIALS, empty_database, gateway

__all__ = ["empty_database"]  # the fixture, imported for the fresh-database test

HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[settings.Settings]:
    """The environment of a production start (the suite's own runs TEST_MODE=true, which
    production refuses). settings.get() is cleared on both sides so that nothing else in the
    process keeps the production settings."""
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.delenv("TEST_MODE", raising=False)
    settings.get.cache_clear()
    yield settings.load()
    settings.get.cache_clear()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[settings.Settings]:
    monkeypatch.delenv("GATEWAY_ENV", raising=False)
    settings.get.cache_clear()
    yield settings.load()
    settings.get.cache_clear()


@contextlib.asynccontextmanager
async def dashboard_client(config: settings.Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = dashboard.create_app(config)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        # https: the client keeps Secure cookies only for a secure origin, as a browser does.
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            yield c


@pytest.fixture
async def production_dashboard(production: settings.Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with dashboard_client(production) as c:
        yield c


# -- /api/v1/test/* ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/test/merchant", "/api/v1/test/jobs/status"])
async def test_test_endpoints_do_not_exist_in_production(
    client: httpx.AsyncClient, production: settings.Settings, path: str
) -> None:
    # The demo serves them (the contract's checkers poll them) ...
    assert (await client.get(path)).status_code == 200
    # ... production answers as for any unknown URL, in the contract's envelope.
    async with helpers.app_client(production) as prod:
        r = await prod.get(path)
        conftest.assert_error(r, 404, "NOT_FOUND_ERROR")
        assert merchants.TEST_API_KEY not in r.text
        spec = (await prod.get("/openapi.json")).json()
    assert not [p for p in spec["paths"] if p.startswith("/api/v1/test/")]


# -- nothing seeded --------------------------------------------------------------------------


async def test_production_migrate_seeds_no_merchant_and_merchants_create_is_the_way_in(
    empty_database: str,
) -> None:
    env = {"DATABASE_URL": empty_database, "GATEWAY_ENV": "production", "TEST_MODE": "false"}
    migrated = gateway("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert merchants.TEST_API_KEY not in migrated.stdout + migrated.stderr
    async with await psycopg.AsyncConnection.connect(empty_database) as c:
        cur = await c.execute("SELECT count(*) FROM merchants")
        assert await cur.fetchone() == (0,)

    email = f"owner{os.urandom(4).hex()}@example.com"
    created = gateway("merchants", "create", "--name", "Shop", "--email", email, env=env)
    assert created.returncode == 0, created.stderr
    printed = CREDENTIALS.match(created.stdout)
    assert printed, created.stdout
    async with await psycopg.AsyncConnection.connect(empty_database) as c:
        cur = await c.execute("SELECT email FROM merchants")
        # Creating a merchant migrates too: still no test merchant beside the new one.
        assert await cur.fetchall() == [(email,)]


# -- dashboard -------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["anything at all", "", "secret_test_xyz789"])
async def test_production_dashboard_refuses_the_test_merchant_with_any_password(
    production_dashboard: httpx.AsyncClient, conn: db.Conn, password: str
) -> None:
    # Its row is there, left from an earlier demo run (the suite's database is seeded).
    assert await merchants.get(conn, merchants.TEST_MERCHANT_ID) is not None
    page = await production_dashboard.get("/login")
    assert 'data-test-id="demo-mode-note"' not in page.text
    r = await login(production_dashboard, merchants.TEST_MERCHANT_EMAIL, password)
    assert r.status_code == 401
    assert auth.BAD_CREDENTIALS in r.text
    assert sessions.COOKIE not in production_dashboard.cookies
    assert (await production_dashboard.get("/dashboard")).status_code == 303


def _cookie(response: httpx.Response, name: str) -> list[str]:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(name + "=")]
    return [part.strip().lower() for part in cookie.split(";")]


async def test_production_session_and_login_csrf_cookies_are_secure(
    production: settings.Settings, production_dashboard: httpx.AsyncClient, conn: db.Conn
) -> None:
    # The default GATEWAY_DASHBOARD_URL is http://localhost:3000; production must not follow it.
    assert production.dashboard_url.startswith("http://")
    suffix = os.urandom(6).hex()
    owner = await merchants.create(
        conn, name="Shop", email=f"shop{suffix}@example.com", password=PASSWORD, config=production
    )
    page = await production_dashboard.get("/login")
    assert "secure" in _cookie(page, auth.LOGIN_CSRF_COOKIE)
    r = await login(production_dashboard, owner.email)
    assert r.status_code == 303, r.text
    flags = _cookie(r, sessions.COOKIE)
    assert {"secure", "httponly", "samesite=lax"} <= set(flags)


# -- headers ---------------------------------------------------------------------------------


def _checkout(config: settings.Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=checkout.create_app(config))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_production_sends_hsts_from_all_three_apps_and_no_store_from_the_api(
    production: settings.Settings,
    production_dashboard: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    async with helpers.app_client(production) as api:
        responses = [
            await api.get("/health"),
            await api.get("/api/v1/orders", headers=auth),
            await api.get("/api/v1/orders"),  # 401
            await api.get("/nowhere"),  # 404
            await api.post("/api/v1/orders", json={"amount": 1}, headers=auth),  # 400
        ]
    for r in responses:
        assert r.headers.get("strict-transport-security") == HSTS, r.request.url
        assert r.headers.get_list("cache-control") == ["no-store"], r.request.url

    for r in [await production_dashboard.get("/login"), await production_dashboard.get("/x")]:
        assert r.headers.get("strict-transport-security") == HSTS, r.request.url
    async with _checkout(production) as c:
        for r in [await c.get("/checkout", params={"order_id": "order_x"}), await c.get("/x")]:
            assert r.headers.get("strict-transport-security") == HSTS, r.request.url


async def test_api_responses_are_never_cached_in_demo_either_and_demo_sends_no_hsts(
    client: httpx.AsyncClient,
    demo: settings.Settings,
    auth: dict[str, str],
) -> None:
    responses = [
        await client.get("/api/v1/test/merchant"),
        await client.get("/api/v1/webhooks/config", headers=auth),  # holds the webhook secret
    ]
    for r in responses:
        assert r.headers.get_list("cache-control") == ["no-store"], r.request.url
        assert "strict-transport-security" not in r.headers
    async with dashboard_client(demo) as dash:
        assert "strict-transport-security" not in (await dash.get("/login")).headers
    async with _checkout(demo) as c:
        assert "strict-transport-security" not in (await c.get("/checkout.js")).headers


# -- what a start prints ---------------------------------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`gateway run` / `serve` in this process up to the point where they would start their
    children: the start-up checks and messages are real, the servers are not."""
    launched: list[list[str]] = []

    def supervise(
        commands: list[list[str]], config: settings.Settings, users: tuple[int, ...] = ()
    ) -> int:
        launched.extend(commands)
        return 0

    monkeypatch.setattr(cli, "_supervise", supervise)
    monkeypatch.setattr(cli, "_logging", lambda level="INFO": None)
    return launched


@pytest.mark.parametrize("command", ["run", "serve"])
def test_demo_start_prints_one_warning_that_the_published_credentials_are_live(
    demo: settings.Settings,
    started: list[list[str]],
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    assert cli.main([command]) == 0 and started
    out, err = capsys.readouterr()
    warnings = [line for line in (out + err).splitlines() if merchants.TEST_API_KEY in line]
    assert len(warnings) == 1, out + err
    assert "live" in warnings[0] and "GATEWAY_ENV=production" in warnings[0]
    assert merchants.TEST_API_SECRET not in out + err  # published or not, a secret is not logged


@pytest.mark.parametrize("command", ["run", "serve"])
def test_production_start_prints_no_demo_warning(
    production: settings.Settings,
    started: list[list[str]],
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    assert cli.main([command]) == 0 and started
    out, err = capsys.readouterr()
    assert "demo" not in (out + err).lower()
    assert merchants.TEST_API_KEY not in out + err


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-pw@127.0.0.1:1/0",
        "redis://app:hunter2-pw@127.0.0.1:1/0?password=hunter2-pw",
    ],
)
def test_redis_password_never_appears_when_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
    started: list[list[str]],
    capsys: pytest.CaptureFixture[str],
    url: str,
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    settings.get.cache_clear()
    try:
        assert cli.main(["serve"]) == 0
    finally:
        settings.get.cache_clear()
    out, err = capsys.readouterr()
    assert "Redis not reachable at redis://***@127.0.0.1:1/0;" in err  # still says where
    assert "hunter2" not in out + err
