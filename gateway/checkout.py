"""The checkout app on :3001: the hosted checkout page and checkout.js, from checkout/."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

from gateway import settings

STATIC = Path(__file__).resolve().parent.parent / "checkout"


def create_app(config: settings.Settings | None = None) -> FastAPI:
    config = config or settings.get()
    app = FastAPI(title="Checkout", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/checkout")
    async def checkout_page() -> Response:
        return FileResponse(STATIC / "checkout.html", media_type="text/html")

    @app.get("/checkout.js")
    async def sdk() -> Response:
        return FileResponse(STATIC / "checkout.js", media_type="application/javascript")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return app
