"""What API routes receive beyond the shared dependencies: the authenticated merchant, the
Idempotency-Key runner for creations, and JSON responses."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import orjson
from fastapi import Depends, Header, Request
from fastapi.responses import Response

from gateway import cache, db, deps, errors, idempotency, keys, merchants, settings
from gateway.api import middleware

Conn = deps.Conn
Config = deps.Config


def json_bytes(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        # orjson refuses integers past 64 bits; the standard library does not. A response must
        # never fail after its transaction committed.
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return raw_json_response(status, json_bytes(data), headers)


def raw_json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers
    )


async def authenticated_merchant(
    request: Request,
    conn: Conn,
    config: Config,
    x_api_key: Annotated[str | None, Header()] = None,
    x_api_secret: Annotated[str | None, Header()] = None,
) -> merchants.Merchant:
    return await authenticate(request, conn, config, x_api_key, x_api_secret)


async def authenticate(
    request: Request,
    conn: db.Conn,
    config: settings.Settings,
    api_key: str | None,
    api_secret: str | None,
) -> merchants.Merchant:
    """The merchant of this key pair, through the rate-limit gate: every surface that takes
    credentials (X-Api-Key/X-Api-Secret here, HTTP Basic on /v1) counts its failures per
    address and charges its successes to the merchant in the same way."""
    # Set by the RateLimit middleware on limited paths; it decides once it knows the outcome.
    gate: middleware.Gate | None = request.scope["state"].get("ratelimit")
    try:
        # The config carries the MAC key and whether this is production (where the published
        # test pair is refused).
        merchant = await merchants.authenticate(conn, config, api_key, api_secret)
    except errors.Unauthorized:
        if gate is not None:
            await gate.failed()  # 429 instead, once this address has failed too often
        raise
    if gate is not None:
        await gate.authenticated(merchant.id)
    request.scope["state"]["merchant_id"] = merchant.id
    return merchant


Merchant = Annotated[merchants.Merchant, Depends(authenticated_merchant)]


class Resource(Protocol):
    @property
    def id(self) -> str: ...

    def out(self) -> dict[str, Any]: ...


class Creation:
    """Runs a route's one domain create call, under its Idempotency-Key when one was sent."""

    def __init__(
        self,
        conn: db.Conn,
        redis: cache.Client,
        attempt: idempotency.Attempt | None,
        lease_seconds: float,
    ) -> None:
        self.conn = conn
        self.redis = redis
        self.attempt = attempt
        self.lease_seconds = lease_seconds

    async def created(self, create: Callable[[], Awaitable[Resource]]) -> Response:
        if self.attempt is None:
            return json_response(201, (await create()).out())

        async def run() -> idempotency.Created:
            resource = await create()
            return idempotency.Created(201, json_bytes(resource.out()), resource.id)

        outcome = await idempotency.run(
            self.conn, self.redis, self.attempt, run, lease_seconds=self.lease_seconds
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return raw_json_response(outcome.status, outcome.body, headers)


# idempotency.KEY as a header can carry it: HTTP drops the spaces around a field value before
# check_key() sees it, so a key that starts or ends with one is not the key the server gets.
IDEMPOTENCY_KEY = r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$"


async def creation(
    request: Request,
    conn: Conn,
    merchant: Merchant,
    config: Config,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="1-255 printable ASCII characters; a retry with the same key and body"
            " replays the first response",
            json_schema_extra={"pattern": IDEMPOTENCY_KEY},
        ),
    ] = None,
) -> Creation:
    attempt = None
    if idempotency_key is not None:
        attempt = idempotency.Attempt(
            merchant.id,
            idempotency.check_key(idempotency_key),
            idempotency.fingerprint(
                keys.derive(config, idempotency.FINGERPRINT_PURPOSE),
                request.method,
                request.url.path,
                await request.body(),
            ),
        )
    return Creation(conn, deps.redis_of(request), attempt, config.idempotency_lease_seconds)


Create = Annotated[Creation, Depends(creation)]
