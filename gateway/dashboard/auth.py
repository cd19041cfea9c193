"""/login and /logout. The login form itself is protected against login CSRF by a
double-submit token (a cookie and a hidden field that must match), since no session exists yet.
Password guessing is throttled per address, account and device (throttle.py): a throttled
attempt gets the login page with 429 and Retry-After, and no password check."""

from __future__ import annotations

import logging
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway import merchants, settings
from gateway.dashboard import sessions, throttle, web

router = APIRouter()
log = logging.getLogger("gateway.dashboard")

LOGIN_CSRF_COOKIE = "gw_login_csrf"
BAD_CREDENTIALS = "Invalid email or password."
THROTTLED = {
    "address": "Too many failed logins from your network.",
    "account": "Too many failed logins for this account.",
    "device": "Too many failed logins for this account from this browser.",
}


def _wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _secure(config: settings.Settings) -> bool:
    # Production always: a session cookie sent once over plain HTTP is a stolen session, whatever
    # GATEWAY_DASHBOARD_URL says (TLS may end at a proxy in front of us).
    return config.production or config.dashboard_url.startswith("https://")


def _login_page(
    request: Request,
    config: settings.Settings,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    next_path: str | None = None,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = web.render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "email": email,
            "error": error,
            "demo_mode": config.demo_mode,
            "demo_email": merchants.TEST_MERCHANT_EMAIL,
            "next": next_path if web.safe_next(next_path) else None,
            "logged_out": request.query_params.get("logged_out") == "1",
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=_secure(config),
        path="/login",
    )
    return response


@router.get("/login")
async def login_form(request: Request, conn: web.Conn, config: web.Config) -> Response:
    # Already logged in: straight to the dashboard.
    if await sessions.get(conn, request.cookies.get(sessions.COOKIE)):
        return RedirectResponse("/dashboard", status_code=303)
    return _login_page(request, config, next_path=request.query_params.get("next"))


@router.post("/login")
async def login(
    request: Request,
    conn: web.Conn,
    config: web.Config,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        raise web.CsrfRejected()
    client = request.client.host if request.client else None
    attempt = throttle.buckets(config, client, email, request.cookies.get(throttle.DEVICE_COOKIE))
    refused = await throttle.admit(conn, attempt)
    if refused is not None:
        log.warning("dashboard login throttled (%s, %d s)", refused.kind, refused.retry_after)
        error = f"{THROTTLED[refused.kind]} Try again in {_wait(refused.retry_after)}."
        page = _login_page(request, config, email=email, error=error, status=429, next_path=next)
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    merchant = await merchants.check_login(conn, email, password, demo_mode=config.demo_mode)
    if merchant is None:
        # Logged without the email or password: a failed login is not an audit of who tried.
        log.info("dashboard login failed")
        return _login_page(
            request, config, email=email, error=BAD_CREDENTIALS, status=401, next_path=next
        )
    await throttle.succeeded(conn, attempt)
    created = await sessions.create(conn, merchant.id)
    response = RedirectResponse(next if web.safe_next(next) else "/dashboard", status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        created.cookie_value,
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(config),
        path="/",
    )
    # This browser has now proved the password: its future attempts count apart from the
    # account's, so nobody hammering the account can lock it out of here.
    response.set_cookie(
        throttle.DEVICE_COOKIE,
        throttle.device_cookie(config, merchant.email),
        max_age=int(throttle.DEVICE_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(config),
        path="/login",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.get("/logout")
async def logout_form(request: Request, who: web.LoggedIn) -> Response:
    # Logging out changes state, so it is a POST; GET shows the button (no logout CSRF).
    return web.render(request, "logout.html", who=who)


@router.post("/logout")
async def logout(request: Request, conn: web.Conn, form: web.CheckedForm) -> Response:
    await sessions.delete(conn, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
