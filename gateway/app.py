"""create_app(): the API on :8000."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import cache, db, errors, ids, logs, ratelimit, settings
from gateway import queue as queue_module
from gateway.api import health, openapi, orders, payments, refunds, testing, webhooks
from gateway.api.deps import json_response

log = logging.getLogger("gateway.app")
access = logging.getLogger("gateway.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(StarletteHTTPException):
    """Raised from receive(); FastAPI re-raises HTTPExceptions met while reading a body."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body too large")


def _error_bytes(code: str, description: str, request_id: str | None = None) -> bytes:
    body: dict[str, Any] = errors.envelope(code, description)
    if request_id:
        body["error"]["request_id"] = request_id
    return json.dumps(body, separators=(",", ":")).encode()


class RequestContext:
    """Pure ASGI middleware: request id, body-size cap, the last-resort 500, one log line."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID.match(incoming) else "req_" + ids.random_string(16)
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge()
            return message

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await self._plain(send_with_id, 413, "Request body too large", request_id)
            else:
                await self.app(scope, capped_receive, send_with_id)
        except _BodyTooLarge:
            if not status_holder["started"]:
                await self._plain(send_with_id, 413, "Request body too large", request_id)
        except Exception:
            log.exception("unhandled error (request_id=%s)", request_id)
            if not status_holder["started"]:
                await send_with_id(_start(500))
                await send_with_id(
                    {
                        "type": "http.response.body",
                        "body": _error_bytes(
                            "INTERNAL_ERROR",
                            "An internal error occurred; quote the request id to support",
                            request_id,
                        ),
                    }
                )
        finally:
            merchant = scope["state"].get("merchant_id")
            access.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "request_id": request_id,
                        "merchant": str(merchant) if merchant else None,
                    },
                    separators=(",", ":"),
                )
            )

    @staticmethod
    async def _plain(send: Send, status: int, description: str, request_id: str) -> None:
        await send(_start(status))
        await send(
            {"type": "http.response.body", "body": _error_bytes("BAD_REQUEST_ERROR", description)}
        )


def _start(status: int) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json")],
    }


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        where = ".".join(loc)
        kind = error.get("type", "")
        if kind == "json_invalid":
            return "Request body is not valid JSON"
        if kind == "missing" and where:
            parts.append(f"{where} is required")
        elif where:
            parts.append(f"{where}: {error.get('msg', 'invalid value')}")
        else:
            parts.append(
                "Request body must be a JSON object"
                if kind in ("model_attributes_type", "dict_type")
                else str(error.get("msg", "invalid request"))
            )
    return "; ".join(parts) or "Invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.GatewayError)
    async def gateway_error(request: Request, exc: errors.GatewayError) -> Response:
        return json_response(exc.status, exc.body(), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        content_type = request.headers.get("content-type", "application/json")
        if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type:
            description = "Request body must be JSON sent with Content-Type: application/json"
        else:
            description = _describe_validation(exc)
        return json_response(400, errors.envelope("BAD_REQUEST_ERROR", description))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            body = errors.envelope("NOT_FOUND_ERROR", "The requested URL was not found")
        elif exc.status_code == 405:
            body = errors.envelope("BAD_REQUEST_ERROR", f"Method {request.method} not allowed")
        else:
            body = errors.envelope("BAD_REQUEST_ERROR", str(exc.detail))
        return json_response(exc.status_code, body, headers=dict(exc.headers or {}))

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return json_response(
            503,
            errors.envelope("SERVICE_UNAVAILABLE", "Database unavailable, try again shortly"),
            headers={"Retry-After": "1"},
        )

    async def unstorable_value(request: Request, exc: Exception) -> Response:
        # A value that passed validation but PostgreSQL refuses (a NUL character, a number out
        # of range): the client's fault, and the transaction it was in has rolled back.
        return json_response(
            400,
            errors.envelope(
                "BAD_REQUEST_ERROR", "Request contains a value that cannot be stored or compared"
            ),
        )

    app.add_exception_handler(psycopg.DataError, unstorable_value)
    app.add_exception_handler(psycopg.OperationalError, database_down)
    app.add_exception_handler(psycopg_pool.PoolTimeout, database_down)


def create_app(config: settings.Settings | None = None) -> FastAPI:
    config = config or settings.get()
    logs.configure(config.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = db.open_pool(
            config.database_url,
            min_size=config.db_pool_min,
            max_size=config.db_pool_max,
            timeout=config.db_pool_timeout,
        )
        await pool.open(wait=False)
        redis = cache.connect(config.redis_url)
        app.state.pool = pool
        app.state.redis = redis
        app.state.ratelimiter = ratelimit.Limiter(redis)
        app.state.settings = config
        await queue_module.app.open_async(pool)
        try:
            yield
        finally:
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="Payment Gateway API",
        version="1.0.0",
        lifespan=lifespan,
        description="Orders, payments, refunds and webhooks. Money is integer paise.",
    )
    install_error_handlers(app)
    openapi.install(app)
    # Inside CORS, so that a 429 still carries the CORS headers a browser needs to read it.
    app.add_middleware(
        ratelimit.Middleware,
        per_key_limit=config.rate_limit_per_minute,
        public_limit=config.public_rate_limit_per_minute,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[config.checkout_url, config.dashboard_url],
        allow_origin_regex=r"^http://(localhost|127\.0\.0\.1)(:\d+)?$"
        if config.test_mode
        else None,
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["Content-Type", "X-Request-Id"],
        expose_headers=[
            "X-Request-Id",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
    )
    app.add_middleware(RequestContext, max_body=config.max_body_bytes)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(payments.router)
    app.include_router(refunds.router)
    app.include_router(webhooks.router)
    if config.test_endpoints:
        app.include_router(testing.router)
    return app
