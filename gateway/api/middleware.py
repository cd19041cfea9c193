"""The API's two pure-ASGI middlewares: the request context (request id, body-size cap, the
last-resort 500, one access-log line) and the rate limit (decided before any routing, body
parsing or database work)."""

from __future__ import annotations

import hashlib
import logging
import re
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import asgi, errors, ids, ratelimit

log = logging.getLogger("gateway.api")
access = logging.getLogger("gateway.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PUBLIC_PATH = re.compile(r"/api/v1/(orders/[^/]+/public|payments/public|payments/[^/]+/public)")
# The checkers' helpers (/api/v1/test/*) and everything outside the API are not limited.
LIMITED_PATH = re.compile(r"/api/v1/(?!test/)")


async def send_error(
    send: Send,
    error: errors.GatewayError,
    request_id: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with `error`'s envelope before any route ran."""
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(error.body(request_id))})


async def _too_large(scope: Scope, send: Send) -> None:
    """The body cap's refusal: the envelope, with the request id RequestContext set."""
    request_id = scope.get("state", {}).get("request_id")
    await send_error(send, errors.PayloadTooLarge(), request_id)


class RequestContext:
    """Request id, body-size cap, the last-resort 500, one access-log line per request."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        # The cap runs inside the context, so its 413 carries the request id and is logged.
        self.app = asgi.BodyLimit(app, max_body, reject=_too_large)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID.fullmatch(incoming) else "req_" + ids.random_string(16)
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

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error (request_id=%s)", request_id)
            if not status_holder["started"]:
                await send_error(send_with_id, errors.Internal(), request_id)
        finally:
            merchant = scope["state"].get("merchant_id")
            access.info(
                orjson.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "request_id": request_id,
                        "merchant": str(merchant) if merchant else None,
                    }
                ).decode()
            )


def bucket(scope: Scope, per_key: int, public: int) -> tuple[str, int] | None:
    """(bucket, limit) for this request, or None when it is not limited."""
    path: str = scope["path"]
    if not LIMITED_PATH.match(path):
        return None
    client = scope.get("client")
    address = client[0] if client else "unknown"
    if not PUBLIC_PATH.fullmatch(path):
        for name, value in scope["headers"]:
            if name == b"x-api-key" and value:
                # Hashed: counters need no credential material in Redis.
                return "key:" + hashlib.sha256(value).hexdigest()[:32], per_key
    # Public endpoints, and private ones called without a key (they answer 401 anyway).
    return "ip:" + address, public


class RateLimit:
    """Pure ASGI: the 429 is decided before any routing, body parsing or database work."""

    def __init__(self, app: ASGIApp, per_key_limit: int, public_limit: int) -> None:
        self.app = app
        self.per_key_limit = per_key_limit
        self.public_limit = public_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        target = bucket(scope, self.per_key_limit, self.public_limit)
        limiter: ratelimit.Limiter | None = getattr(scope["app"].state, "ratelimiter", None)
        decision = None
        if target is not None and limiter is not None:
            decision = await limiter.hit(*target)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            error = errors.RateLimited(
                f"Too many requests; retry after {decision.retry_after} second(s)"
            )
            await send_error(send, error, headers=decision.headers())
            return
        extra = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
