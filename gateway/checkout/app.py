"""The checkout app on :3001: the hosted checkout page, its assets and checkout.js, from checkout/.

The page learns the API's address from a meta tag rendered here (GATEWAY_PUBLIC_API_URL), never
from its own query string: a crafted link must not be able to point the card form at another host.

Embedding follows the order's merchant (`PUT /api/v1/checkout/config {"allowed_origins"}`), so
that a checkout, and the payment results it posts to its parent, reach only the merchant's own
pages:
- origins configured: `frame-ancestors` names exactly them, and an embedded page posts results
  only to the parent origin the SDK names when it is one of them (postMessage's target origin
  then makes the browser deliver only to that origin); another named parent gets a page that
  refuses to run;
- none configured, demo: any site may embed (frame-ancestors *) and the page posts to the parent
  origin the SDK names, as before origins existed (the contract's checkers, the README examples);
- none configured, production: no site may embed (frame-ancestors 'none') until the merchant
  names its origins; a direct visit to /checkout?order_id=… works as always.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import db, deps, errors, ids, merchants, orders, settings

log = logging.getLogger("gateway.checkout")

STATIC = Path(__file__).resolve().parents[2] / "checkout"
CONFIG_MARKER = "<!--GATEWAY_CONFIG-->"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Embedding:
    """Who may frame the page, and where an embedded page may post its results."""

    frame_ancestors: str  # a CSP source list
    parent_origin: str | None  # None: the page posts nothing
    refused: bool  # embedded for a parent the merchant did not allow: the page will not run


def embedding(
    origins: list[str] | None, *, production: bool, embedded: bool, claimed_parent: str | None
) -> Embedding:
    """The policy for one page view. `origins` is the order's merchant's list (None when the
    order cannot be shown); `claimed_parent` is the SDK's `parent_origin`, a claim that is only
    believed when the merchant allowed that origin (or allowed none, in the demo)."""
    parent = None
    if embedded and claimed_parent:
        with contextlib.suppress(errors.BadRequest):
            parent = merchants.checkout_origin(claimed_parent, production=False)
    if origins:
        allowed = parent if parent in origins else None
        return Embedding(" ".join(origins), allowed, embedded and allowed is None)
    if production:
        return Embedding("'none'", None, embedded)
    return Embedding("*", parent, False)


def render_page(template: str, public_api_url: str, policy: Embedding | None = None) -> str:
    tags = [("gateway-api-url", public_api_url)]
    if policy is not None and policy.parent_origin:
        tags.append(("gateway-parent-origin", policy.parent_origin))
    if policy is not None and policy.refused:
        tags.append(("gateway-embedding", "refused"))
    meta = "\n".join(
        f'<meta name="{name}" content="{html.escape(value, quote=True)}">' for name, value in tags
    )
    return template.replace(CONFIG_MARKER, meta, 1)


def page_headers(public_api_url: str, frame_ancestors: str = "*") -> dict[str, str]:
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {_origin(public_api_url)}",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


async def _origins(request: Request, order_id: str, key: str | None) -> list[str] | None:
    try:
        ids.require("order", order_id, orders.NOT_FOUND)
    except errors.NotFound:
        return None  # an id that cannot exist costs no connection
    try:
        async with deps.pool_of(request).connection() as conn:
            return await orders.checkout_origins(conn, order_id, key)
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
        # The page still renders (and reports the outage when it calls the API); embedding
        # falls back to the no-origins policy, which in production allows no site.
        log.warning("database unavailable for the checkout page: %s", type(error).__name__)
        return None


HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class StrictTransport:
    """HSTS on every response, 404s included (pure ASGI: one list append per response). Only
    in production, which is served over HTTPS; the demo runs on plain localhost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), HSTS]
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def create_app(config: settings.Settings | None = None) -> FastAPI:
    config = config or settings.get()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One short read per page view (the order's merchant's checkout origins).
        pool = db.open_pool(
            config.database_url,
            min_size=1,
            max_size=min(config.db_pool_max, 10),
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
        title="Checkout", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    if config.production:
        app.add_middleware(StrictTransport)
    api_url = config.public_api_url.rstrip("/")

    def asset(name: str, media_type: str, extra: dict[str, str] | None = None) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(
            (STATIC / name).read_bytes(), media_type=media_type, headers=headers | (extra or {})
        )

    @app.get("/checkout", response_class=HTMLResponse)
    async def checkout_page(request: Request) -> Response:
        query = request.query_params
        order_id = (query.get("order_id") or "").strip()
        origins = await _origins(request, order_id, query.get("key") or None)
        policy = embedding(
            origins,
            production=config.production,
            embedded=query.get("embedded") == "true",
            claimed_parent=query.get("parent_origin"),
        )
        page = render_page((STATIC / "checkout.html").read_text(encoding="utf-8"), api_url, policy)
        return HTMLResponse(page, headers=page_headers(api_url, policy.frame_ancestors))

    @app.get("/checkout/page.js")
    def page_script() -> Response:
        return asset("page.js", "text/javascript")

    @app.get("/checkout/checkout.css")
    def page_styles() -> Response:
        return asset("checkout.css", "text/css")

    @app.get("/checkout.js")
    def sdk() -> Response:
        # Public and credential-free, so readable by merchant pages that load it with crossorigin.
        return asset("checkout.js", "text/javascript", {"Access-Control-Allow-Origin": "*"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return app
