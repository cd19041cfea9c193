"""The API's two pure-ASGI middlewares: the request context (request id, body-size cap, the
last-resort 500, one access-log line) and the rate limit (per client address before routing
on the public endpoints; on private ones after authentication, never on a key alone)."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import asgi, errors, ids, ratelimit

log = logging.getLogger("gateway.api")
access = logging.getLogger("gateway.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PUBLIC_PATH = re.compile(r"/api/v1/(orders/[^/]+/public|payments/public|payments/[^/]+/public)")
# The checkers' helpers (/api/v1/test/*) and everything outside the API are not limited. /v1 is
# the Razorpay-compatible surface: the same merchants, the same limits.
LIMITED_PATH = re.compile(r"/(?:api/v1/(?!test/)|v1/)")


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


# Every API response: private ones carry credentials and merchant data, and no shared or
# browser cache may keep them. Added here, in the middleware every response already passes
# through, rather than in a middleware layer of its own: the hot path gains a list append.
NO_STORE = (b"cache-control", b"no-store")
# Production only (see api/app.py): a year, subdomains included. In the demo it would pin a
# developer's `localhost` to HTTPS in any browser that honoured it.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class RequestContext:
    """Request id, body-size cap, the last-resort 500, one access-log line per request, and the
    headers every response carries (`security_headers`). Appended unconditionally: no API route
    sets Cache-Control or HSTS itself, and a scan of every response's headers for them would
    cost more than the rest of this function's header work."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        security_headers: tuple[tuple[bytes, bytes], ...] = (NO_STORE,),
    ) -> None:
        # The cap runs inside the context, so its 413 carries the request id, the security
        # headers and an access-log line like any other answer.
        self.app = asgi.BodyLimit(app, max_body, reject=_too_large)
        self.security_headers = security_headers

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
                    *self.security_headers,
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


def client_address(scope: Scope) -> str:
    """Who a per-address limit counts: the client's IPv4 address, or its IPv6 /64 (one host
    commonly holds a whole /64, so counting single IPv6 addresses would hand an attacker 2^64
    fresh allowances)."""
    client = scope.get("client")
    if not client:
        return "unknown"
    host = str(client[0])
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def bucket(scope: Scope, public: int) -> ratelimit.Bucket | None:
    """The bucket charged before routing: the client address's, on the public checkout
    endpoints. None elsewhere: a private endpoint is charged after authentication (`Gate`),
    and /health, /api/v1/test/* and everything outside the API are not limited."""
    path: str = scope["path"]
    if not PUBLIC_PATH.fullmatch(path):
        return None
    return ratelimit.Bucket("address:" + client_address(scope), public, "address")


class Gate:
    """The rate limit's half of authentication, kept in the request's scope for the auth
    dependency: it reports who the request turned out to be, and the one Redis call made then
    decides the request.

    The API key is public (checkout pages carry it), so nothing may be charged to a merchant on
    the strength of its key alone: a merchant's bucket is charged only once its secret matched,
    and a failed authentication is charged to the client address, whichever key it named."""

    def __init__(
        self,
        limiter: ratelimit.Limiter,
        refusals: ratelimit.Refusals,
        failures: ratelimit.Bucket,
        per_key_limit: int,
    ) -> None:
        self.limiter = limiter
        self.refusals = refusals
        self.failures = failures
        self.per_key_limit = per_key_limit
        self.decision: ratelimit.Decision | None = None
        self.reported = False

    async def authenticated(self, merchant_id: uuid.UUID) -> None:
        """Charge the merchant's bucket, unless this address is over its failure limit (even
        the right secret is refused then, or the answer would tell a guesser it guessed right).
        Both in one Redis round trip."""
        merchant = ratelimit.Bucket(f"merchant:{merchant_id}", self.per_key_limit, "key")
        await self._decide(self.failures, merchant)

    async def failed(self) -> None:
        """Count a failed authentication against the address; past its limit, 429 instead of
        the 401."""
        await self._decide(self.failures)

    async def _decide(self, *buckets: ratelimit.Bucket) -> None:
        if self.reported:
            return  # one charge per request, however many times it is authenticated
        self.reported = True
        decision = self.decision = await self.limiter.hit(*buckets)
        if decision is None or decision.allowed:
            return
        if decision.policy == self.failures.policy:
            self.refusals.remember(self.failures, decision)
        raise _limited(decision)


def _limited(decision: ratelimit.Decision) -> errors.RateLimited:
    return errors.RateLimited(f"Too many requests; retry after {decision.retry_after} second(s)")


class RateLimit:
    """Pure ASGI. Public checkout endpoints: one bucket per client address, decided before any
    routing, body parsing or database work. Private endpoints: no Redis call here; the auth
    dependency decides through the request's `Gate` (one Redis call), and an address that
    recently went over its failed-authentication limit is refused here, before its credentials
    cost a lookup."""

    def __init__(
        self,
        app: ASGIApp,
        per_key_limit: int,
        public_limit: int,
        auth_failure_limit: int | None = None,
    ) -> None:
        self.app = app
        self.per_key_limit = per_key_limit
        self.public_limit = public_limit
        self.auth_failure_limit = auth_failure_limit or public_limit
        self.refusals = ratelimit.Refusals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: ratelimit.Limiter | None = None
        if (
            scope["type"] == "http"
            and scope.get("method") != "OPTIONS"
            and LIMITED_PATH.match(scope["path"])
        ):
            limiter = getattr(scope["app"].state, "ratelimiter", None)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        public = bucket(scope, self.public_limit)
        if public is not None:
            decision = self.refusals.get(public) or await limiter.hit(public)
            if decision is None:
                await self.app(scope, receive, send)
                return
            if not decision.allowed:
                self.refusals.remember(public, decision)
                await send_error(send, _limited(decision), headers=decision.headers())
                return
            await self.app(scope, receive, _with_headers(send, lambda: decision))
            return
        failures = ratelimit.Bucket(
            "auth-failures:" + client_address(scope), self.auth_failure_limit, "auth-failures"
        )
        refused = self.refusals.get(failures)
        if refused is not None:
            await send_error(send, _limited(refused), headers=refused.headers())
            return
        gate = Gate(limiter, self.refusals, failures, self.per_key_limit)
        scope.setdefault("state", {})["ratelimit"] = gate
        await self.app(scope, receive, _with_headers(send, lambda: gate.decision))


def _with_headers(send: Send, decision: Callable[[], ratelimit.Decision | None]) -> Send:
    """`send`, adding the RateLimit headers of the decision made by the time the response
    starts (for a private endpoint, the auth dependency makes it while the request runs)."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start" and (made := decision()) is not None:
            message["headers"] = [*message.get("headers", []), *made.headers()]
        await send(message)

    return send_with_headers
