"""The checkout app on :3001: the hosted checkout page, its assets and checkout.js, from checkout/.

The page learns the API's address from a meta tag rendered here (GATEWAY_PUBLIC_API_URL), never
from its own query string: a crafted link must not be able to point the card form at another host.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import settings

STATIC = Path(__file__).resolve().parents[2] / "checkout"
CONFIG_MARKER = "<!--GATEWAY_CONFIG-->"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def render_page(template: str, public_api_url: str) -> str:
    meta = f'<meta name="gateway-api-url" content="{html.escape(public_api_url, quote=True)}">'
    return template.replace(CONFIG_MARKER, meta, 1)


def page_headers(public_api_url: str) -> dict[str, str]:
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {_origin(public_api_url)}",
            "base-uri 'none'",
            "form-action 'none'",
            # Any merchant site may embed the page through checkout.js.
            "frame-ancestors *",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


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
    app = FastAPI(title="Checkout", docs_url=None, redoc_url=None, openapi_url=None)
    if config.production:
        app.add_middleware(StrictTransport)
    api_url = config.public_api_url.rstrip("/")

    def asset(name: str, media_type: str, extra: dict[str, str] | None = None) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(
            (STATIC / name).read_bytes(), media_type=media_type, headers=headers | (extra or {})
        )

    @app.get("/checkout", response_class=HTMLResponse)
    def checkout_page() -> Response:
        page = render_page((STATIC / "checkout.html").read_text(encoding="utf-8"), api_url)
        return HTMLResponse(page, headers=page_headers(api_url))

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
