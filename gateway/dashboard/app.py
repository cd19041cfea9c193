"""create_app(): the merchant dashboard on :3000. Server-rendered pages (Jinja2 templates and
static assets in dashboard/), calling the domain modules directly over its own connection pool,
as the API does.

No HTTP hop to the API: the dashboard is one more front end of the same domain, and the domain
functions already scope every read and write to the merchant. Sessions are server-side rows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Scope, Send

from gateway import asgi, db, errors, logs, settings
from gateway.dashboard import auth, pages, web, webhooks

log = logging.getLogger("gateway.dashboard")

# Every script and style is a file under /static: no inline code, so CSP can forbid it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none';"
    " object-src 'none'"
)

HSTS = "max-age=31536000; includeSubDomains"


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    return web.render(request, "error.html", {"title": title, "message": message}, status=status)


def _too_large_page(request: Request, limit: int) -> Response:
    return _error_page(
        request,
        413,
        "Too large",
        f"What was sent is larger than the {limit // 1024} KiB a dashboard form may be."
        " Go back and send less.",
    )


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def create_app(config: settings.Settings | None = None) -> FastAPI:
    config = config or settings.get()
    logs.configure(config.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A dashboard serves a handful of people: a small pool is plenty.
        pool = db.open_pool(
            config.database_url,
            min_size=1,
            max_size=min(config.db_pool_max, 5),
            timeout=config.db_pool_timeout,
        )
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.settings = config
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Dashboard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.mount("/static", StaticFiles(directory=web.ROOT / "static"), name="static")
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(webhooks.router)

    # The same cap as the API (a login form or an upload is never read past it). Added before
    # security_headers, so that one, wrapping it, puts CSP and no-store on the 413 page too.
    async def too_large(scope: Scope, send: Send) -> None:
        await _too_large_page(Request(scope), config.max_body_bytes)(scope, _no_body, send)

    app.add_middleware(asgi.BodyLimit, max_body=config.max_body_bytes, reject=too_large)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if config.production:
            # Production is served over HTTPS (its session cookie is Secure): never let a
            # browser fall back to plain HTTP for it. Not in the demo, which runs on localhost.
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if not request.url.path.startswith("/static/"):
            # Pages show API and webhook secrets: never keep them in a shared cache or history.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(web.LoginRequired)
    async def login_required(request: Request, exc: web.LoginRequired) -> Response:
        return web.login_redirect(exc.next_path)

    @app.exception_handler(web.CsrfRejected)
    async def csrf_rejected(request: Request, exc: web.CsrfRejected) -> Response:
        return _error_page(
            request,
            403,
            "Form expired",
            "This form could not be verified (missing or stale security token)."
            " Go back, reload the page and try again.",
        )

    @app.exception_handler(asgi.BodyTooLarge)
    async def body_too_large(request: Request, exc: asgi.BodyTooLarge) -> Response:
        return _too_large_page(request, config.max_body_bytes)

    @app.exception_handler(errors.NotFound)
    async def not_found(request: Request, exc: errors.NotFound) -> Response:
        return _error_page(request, 404, "Not found", exc.description)

    @app.exception_handler(errors.GatewayError)
    async def gateway_error(request: Request, exc: errors.GatewayError) -> Response:
        return _error_page(request, exc.status, "Request refused", exc.description)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_page(request, 404, "Not found", "There is no page at this address.")
        return _error_page(request, exc.status_code, "Request refused", str(exc.detail))

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        response = _error_page(
            request, 503, "Temporarily unavailable", "The database is not answering; try again."
        )
        response.headers["Retry-After"] = "1"
        return response

    app.add_exception_handler(psycopg.OperationalError, database_down)
    app.add_exception_handler(psycopg_pool.PoolTimeout, database_down)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return app
