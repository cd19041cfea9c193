"""Sessions, login rules, redirects and CSRF of the dashboard."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gateway import db, merchants, settings
from gateway.dashboard import app as dashboard
from gateway.dashboard import auth, sessions
from tests.dashboard.conftest import csrf_from, login, page_csrf

PAGES = [
    "/dashboard",
    "/dashboard/transactions",
    "/dashboard/transactions/pay_AAAAAAAAAAAAAAAA",
    "/dashboard/webhooks",
    f"/dashboard/webhooks/{uuid.uuid4()}/detail",
    "/dashboard/docs",
    "/logout",
]
POSTS = [
    "/dashboard/webhooks/config",
    "/dashboard/webhooks/rotate-secret",
    "/dashboard/webhooks/test",
    f"/dashboard/webhooks/{uuid.uuid4()}/retry",
    "/dashboard/transactions/pay_AAAAAAAAAAAAAAAA/refunds",
    "/logout",
]


async def test_login_sets_a_hardened_session_cookie(
    dash: httpx.AsyncClient, owner: merchants.NewMerchant
) -> None:
    r = await login(dash, owner.email)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = next(
        c for c in r.headers.get_list("set-cookie") if c.startswith(sessions.COOKIE + "=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert f"max-age={int(sessions.LIFETIME.total_seconds())}" in flags
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40  # 32 random bytes, URL-safe base64
    home = await dash.get("/dashboard")
    assert home.status_code == 200 and owner.api_key in home.text


async def test_session_id_is_stored_only_as_a_hash(
    logged_in: httpx.AsyncClient, conn: db.Conn, owner: merchants.NewMerchant
) -> None:
    value = logged_in.cookies[sessions.COOKIE]
    rows = await db.fetch_all(
        conn,
        "SELECT id_hash FROM dashboard_sessions WHERE merchant_id = %(m)s",
        {"m": owner.id},
    )
    assert len(rows) == 1 and value not in rows[0]["id_hash"]


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
async def test_wrong_credentials_get_one_message_and_no_session(
    dash: httpx.AsyncClient, owner: merchants.NewMerchant, which: str
) -> None:
    email, password = (
        (owner.email, "not it") if which == "wrong password" else ("ghost@example.com", "x")
    )
    r = await login(dash, email, password)
    assert r.status_code == 401
    assert auth.BAD_CREDENTIALS in r.text
    assert 'data-test-id="login-form"' in r.text
    assert sessions.COOKIE not in dash.cookies
    assert (await dash.get("/dashboard")).status_code == 303


async def test_demo_mode_lets_the_test_merchant_in_with_any_password(
    dash: httpx.AsyncClient,
) -> None:
    page = await dash.get("/login")
    assert "Demo mode" in page.text and merchants.TEST_MERCHANT_EMAIL in page.text
    r = await login(dash, merchants.TEST_MERCHANT_EMAIL, "whatever-you-like")
    assert r.status_code == 303
    home = await dash.get("/dashboard")
    assert merchants.TEST_API_KEY in home.text and merchants.TEST_API_SECRET in home.text


async def test_without_demo_mode_the_test_merchant_password_is_checked(
    database: str, config: settings.Settings
) -> None:
    app = dashboard.create_app(config.model_copy(update={"demo_mode": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            page = await c.get("/login")
            assert "Demo mode" not in page.text
            r = await login(c, merchants.TEST_MERCHANT_EMAIL, "whatever-you-like")
            assert r.status_code == 401 and auth.BAD_CREDENTIALS in r.text
            assert (await c.get("/dashboard")).status_code == 303


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_redirects_to_login_without_a_session(
    dash: httpx.AsyncClient, path: str
) -> None:
    r = await dash.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", POSTS)
async def test_every_post_without_a_session_goes_to_login(
    dash: httpx.AsyncClient, path: str
) -> None:
    r = await dash.post(path, data={"csrf_token": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/login"


async def test_forged_or_expired_cookie_is_no_session(
    logged_in: httpx.AsyncClient, conn: db.Conn, owner: merchants.NewMerchant
) -> None:
    await conn.execute(
        "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'"
        " WHERE merchant_id = %(m)s",
        {"m": owner.id},
    )
    assert (await logged_in.get("/dashboard")).status_code == 303
    logged_in.cookies.set(sessions.COOKIE, "forged-value")
    assert (await logged_in.get("/dashboard")).status_code == 303


@pytest.mark.parametrize(
    ("path", "target"),
    [("/", "/dashboard"), ("/webhooks", "/dashboard/webhooks"), ("/docs", "/dashboard/docs")],
)
async def test_short_routes_redirect_to_the_dashboard_routes(
    dash: httpx.AsyncClient, path: str, target: str
) -> None:
    r = await dash.get(path)
    assert r.status_code in (302, 303, 307) and r.headers["location"] == target


async def test_login_returns_to_the_page_asked_for_but_never_off_site(
    dash: httpx.AsyncClient, owner: merchants.NewMerchant
) -> None:
    first = await dash.get("/dashboard/webhooks")
    assert first.headers["location"] == "/login?next=/dashboard/webhooks"
    page = await dash.get(first.headers["location"])
    r = await dash.post(
        "/login",
        data={
            "email": owner.email,
            "password": "correct horse battery staple",
            "csrf_token": csrf_from(page.text),
            "next": "/dashboard/webhooks",
        },
    )
    assert r.headers["location"] == "/dashboard/webhooks"
    dash.cookies.clear()
    page = await dash.get("/login?next=//evil.example/x")
    assert "evil.example" not in page.text
    r = await dash.post(
        "/login",
        data={
            "email": owner.email,
            "password": "correct horse battery staple",
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/dashboard"


async def test_login_post_without_its_csrf_cookie_is_rejected(
    dash: httpx.AsyncClient, owner: merchants.NewMerchant
) -> None:
    r = await dash.post(
        "/login",
        data={"email": owner.email, "password": "correct horse battery staple", "csrf_token": "x"},
    )
    assert r.status_code == 403
    assert sessions.COOKIE not in dash.cookies


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/dashboard/webhooks/config", {"url": "https://example.com/hook"}),
        ("/dashboard/webhooks/rotate-secret", {}),
        ("/dashboard/webhooks/test", {}),
        ("/logout", {}),
    ],
)
async def test_form_posts_without_the_session_csrf_token_are_rejected(
    logged_in: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    path: str,
    data: dict[str, Any],
    token: str | None,
) -> None:
    if token is not None:
        data = {**data, "csrf_token": token}
    r = await logged_in.post(path, data=data)
    assert r.status_code == 403 and "could not be verified" in r.text
    after = await merchants.get(conn, owner.id)
    assert after is not None
    # The same sealed bytes: the secret was not rotated.
    assert after.webhook_url is None
    assert after.webhook_secret_sealed == owner.webhook_secret_sealed
    assert (await logged_in.get("/dashboard")).status_code == 200  # still logged in


async def test_another_sessions_csrf_token_does_not_work(
    dash: httpx.AsyncClient, dashboard_app: Any, owner: merchants.NewMerchant
) -> None:
    transport = httpx.ASGITransport(app=dashboard_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await login(other, owner.email)
        foreign = await page_csrf(other)
    await login(dash, owner.email)
    r = await dash.post("/dashboard/webhooks/rotate-secret", data={"csrf_token": foreign})
    assert r.status_code == 403


async def test_logout_ends_the_session_server_side(logged_in: httpx.AsyncClient) -> None:
    stolen = logged_in.cookies[sessions.COOKIE]
    token = await page_csrf(logged_in)
    r = await logged_in.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    logged_in.cookies.set(sessions.COOKIE, stolen)  # a copy of the cookie made before logout
    assert (await logged_in.get("/dashboard")).status_code == 303
