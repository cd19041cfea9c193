"""The merchant dashboard on :3000."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from gateway import settings


def create_app(config: settings.Settings | None = None) -> FastAPI:
    config = config or settings.get()
    app = FastAPI(title="Dashboard", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    @app.get("/login", response_class=HTMLResponse)
    async def placeholder() -> str:
        return "<!doctype html><title>Dashboard</title><p>The dashboard is being built.</p>"

    return app
