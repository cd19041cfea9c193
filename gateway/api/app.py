"""create_app(): the API on :8000."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from gateway import cache, db, errors, logs, ratelimit, settings
from gateway import queue as queue_module
from gateway.api import (
    checkout_config,
    health,
    middleware,
    openapi,
    orders,
    payments,
    refunds,
    testing,
    webhooks,
)
from gateway.api.deps import json_response
from gateway.api.rzp import edge as rzp_edge
from gateway.api.rzp import errors as rzp_errors
from gateway.api.rzp import routes as rzp_routes

log = logging.getLogger("gateway.api")


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


def allowed_methods(request: Request) -> str | None:
    """`Allow` for a 405: every method of the resource at this path. Starlette takes it from the
    first route whose path matches, but one resource may be served by several routes (GET and PUT
    /api/v1/webhooks/config). The resource is the first route template that matches, in routing
    order, so /api/v1/webhooks/test is its own resource (POST) and not a log id (GET)."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    routes = [
        (route.path, route.methods)
        for route in routing.iter_route_contexts(request.app.routes)
        if route.path and route.methods
    ]
    for template, _ in routes:
        if compile_path(template)[0].match(path):
            methods = {m for other, methods in routes if other == template for m in methods}
            return ", ".join(sorted(methods))
    return None


def _error(request: Request, error: errors.GatewayError) -> Response:
    """The envelope of `error`: the classic one, or Razorpay's under /v1."""
    if rzp_errors.applies(request.scope):
        status, body = rzp_errors.render(error, request.scope["state"].get("request_id"))
        return json_response(status, body, headers=error.headers)
    return json_response(error.status, error.body(), headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.GatewayError)
    async def gateway_error(request: Request, exc: errors.GatewayError) -> Response:
        return _error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        content_type = request.headers.get("content-type", "application/json")
        if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type:
            description = "Request body must be JSON sent with Content-Type: application/json"
        else:
            description = _describe_validation(exc)
        return _error(request, errors.BadRequest(description))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if rzp_errors.applies(request.scope):
            return _razorpay_http_error(request, exc, headers)
        if exc.status_code == 404:
            error: errors.GatewayError = errors.NotFound("The requested URL was not found")
        elif exc.status_code == 405:
            error = errors.BadRequest(f"Method {request.method} not allowed")
            allow = allowed_methods(request)
            if allow:
                headers["Allow"] = allow
        else:
            error = errors.BadRequest(str(exc.detail))
        return json_response(exc.status_code, error.body(), headers=headers)

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return _error(request, errors.ServiceUnavailable())

    async def unstorable_value(request: Request, exc: Exception) -> Response:
        # A value that passed validation but PostgreSQL refuses (a NUL character, a number out
        # of range): the client's fault, and the transaction it was in has rolled back.
        return _error(
            request,
            errors.BadRequest("Request contains a value that cannot be stored or compared"),
        )

    app.add_exception_handler(psycopg.DataError, unstorable_value)
    app.add_exception_handler(psycopg.OperationalError, database_down)
    app.add_exception_handler(psycopg_pool.PoolTimeout, database_down)


def _razorpay_http_error(
    request: Request, exc: StarletteHTTPException, headers: dict[str, str]
) -> Response:
    """Routing's own refusals under /v1: an unknown URL (Razorpay's wording), a method the path
    does not take (with its Allow)."""
    request_id = request.scope["state"].get("request_id")
    if exc.status_code == 404:
        body = rzp_errors.envelope(404, rzp_errors.NO_URL, "NOT_FOUND_ERROR", request_id=request_id)
    elif exc.status_code == 405:
        body = rzp_errors.envelope(
            405, f"Method {request.method} not allowed", "BAD_REQUEST_ERROR", request_id=request_id
        )
        allow = allowed_methods(request)
        if allow:
            headers["Allow"] = allow
    else:
        body = rzp_errors.envelope(
            exc.status_code, str(exc.detail), "BAD_REQUEST_ERROR", request_id=request_id
        )
    return json_response(exc.status_code, body, headers=headers)


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
        middleware.RateLimit,
        per_key_limit=config.rate_limit_per_minute,
        public_limit=config.public_rate_limit_per_minute,
        # A failed authentication is a request from an address that has not shown who it is,
        # the same allowance as the public endpoints (a setting of its own can come later).
        auth_failure_limit=config.public_rate_limit_per_minute,
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
            "RateLimit-Policy",
        ],
    )
    # Cache-Control: no-store always, demo included: its responses hold credentials too, and one
    # behaviour in both modes is one behaviour tested. HSTS only in production, which is served
    # over HTTPS (browsers ignore it over plain HTTP anyway).
    headers = (
        (middleware.NO_STORE, middleware.HSTS) if config.production else (middleware.NO_STORE,)
    )
    app.add_middleware(
        middleware.RequestContext, max_body=config.max_body_bytes, security_headers=headers
    )
    # Outermost: /v1 paths are normalised before the rate limit and routing see them, and a
    # middleware's refusal of a /v1 request leaves in Razorpay's envelope.
    app.add_middleware(rzp_edge.Edge)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(payments.router)
    app.include_router(refunds.router)
    app.include_router(webhooks.router)
    app.include_router(checkout_config.router)
    app.include_router(rzp_routes.router)
    if config.test_endpoints:
        app.include_router(testing.router)
    return app
