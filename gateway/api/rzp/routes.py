"""The /v1 routes the official SDKs call, each one call into gateway/razorpay/resources.py and
Razorpay's entity shape (gateway/razorpay/entities.py). Creates answer 200, as Razorpay's do.

Bodies are read as raw JSON rather than through pydantic models: Razorpay's clients send
amounts as digit strings, flags as 0/1, and the Python SDK's `payment.refund(id, 2000)` a bare
integer, each of which a model would refuse with a message Razorpay never gives. Out of the
OpenAPI document: /openapi.json describes our own API (its X-Api-Key security, its error
schema); /v1 is Razorpay's API, specified by Razorpay and tested with its SDKs."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from gateway import deps as shared
from gateway import idempotency, keys, refunds
from gateway.api import deps
from gateway.api.rzp import auth
from gateway.razorpay import entities, inputs, resources

router = APIRouter(prefix="/v1", include_in_schema=False)

# Keeps X-Refund-Idempotency keys apart from Idempotency-Key ones (one table, one namespace per
# merchant), and leaves room for that prefix within the table's 255 characters.
REFUND_KEY_PREFIX = "razorpay-refund:"
MAX_REFUND_KEY = 255 - len(REFUND_KEY_PREFIX)
RefundKey = Annotated[str | None, Header(alias="X-Refund-Idempotency")]


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise inputs.Invalid("The request body must be JSON") from None


def _ok(data: dict[str, Any]) -> Response:
    return deps.json_response(200, data)


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


# Orders


@router.post("/orders")
async def create_order(request: Request, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    order = await resources.create_order(conn, merchant.id, await _body(request))
    return _ok(entities.order(order))


@router.get("/orders")
async def list_orders(request: Request, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    found = await resources.list_orders(conn, merchant.id, _query(request))
    return _ok(entities.collection([entities.order(o) for o in found]))


@router.get("/orders/{order_id}")
async def get_order(order_id: str, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    return _ok(entities.order(await resources.get_order(conn, merchant.id, order_id)))


@router.patch("/orders/{order_id}")
async def edit_order(
    order_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    order = await resources.edit_order(conn, merchant.id, order_id, await _body(request))
    return _ok(entities.order(order))


@router.get("/orders/{order_id}/payments")
async def order_payments(
    order_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    found = await resources.order_payments(conn, merchant.id, order_id, _query(request))
    return _ok(entities.collection([entities.payment(p) for p in found]))


# Payments


@router.get("/payments")
async def list_payments(request: Request, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    found = await resources.list_payments(conn, merchant.id, _query(request))
    return _ok(entities.collection([entities.payment(p) for p in found]))


@router.get("/payments/{payment_id}")
async def get_payment(payment_id: str, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    return _ok(entities.payment(await resources.get_payment(conn, merchant.id, payment_id)))


@router.patch("/payments/{payment_id}")
async def edit_payment(
    payment_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    payment = await resources.edit_payment(conn, merchant.id, payment_id, await _body(request))
    return _ok(entities.payment(payment))


@router.post("/payments/{payment_id}/capture")
async def capture_payment(
    payment_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    payment = await resources.capture_payment(conn, merchant.id, payment_id, await _body(request))
    return _ok(entities.payment(payment))


@router.post("/payments/{payment_id}/refund")
async def refund_payment(
    payment_id: str,
    request: Request,
    conn: deps.Conn,
    merchant: auth.Merchant,
    config: deps.Config,
    x_refund_idempotency: RefundKey = None,
) -> Response:
    return await _refund(request, conn, merchant, config, payment_id, x_refund_idempotency)


@router.get("/payments/{payment_id}/refunds")
async def payment_refunds(
    payment_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    found = await resources.list_refunds(conn, merchant.id, _query(request), payment_id)
    return _ok(entities.collection([entities.refund(r) for r in found]))


@router.get("/payments/{payment_id}/refunds/{refund_id}")
async def payment_refund(
    payment_id: str, refund_id: str, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    refund = await resources.get_refund(conn, merchant.id, refund_id, payment_id)
    return _ok(entities.refund(refund))


# Refunds


@router.post("/refunds")
async def create_refund(
    request: Request,
    conn: deps.Conn,
    merchant: auth.Merchant,
    config: deps.Config,
    x_refund_idempotency: RefundKey = None,
) -> Response:
    return await _refund(request, conn, merchant, config, None, x_refund_idempotency)


@router.get("/refunds")
async def list_refunds(request: Request, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    found = await resources.list_refunds(conn, merchant.id, _query(request))
    return _ok(entities.collection([entities.refund(r) for r in found]))


@router.get("/refunds/{refund_id}")
async def get_refund(refund_id: str, conn: deps.Conn, merchant: auth.Merchant) -> Response:
    return _ok(entities.refund(await resources.get_refund(conn, merchant.id, refund_id)))


@router.patch("/refunds/{refund_id}")
async def edit_refund(
    refund_id: str, request: Request, conn: deps.Conn, merchant: auth.Merchant
) -> Response:
    refund = await resources.edit_refund(conn, merchant.id, refund_id, await _body(request))
    return _ok(entities.refund(refund))


async def _refund(
    request: Request,
    conn: deps.Conn,
    merchant: auth.Merchant,
    config: deps.Config,
    payment_id: str | None,
    key: str | None,
) -> Response:
    """A refund, under Razorpay's X-Refund-Idempotency when sent: our Idempotency-Key
    machinery (the stored response, replayed byte for byte; 409 while the first is running;
    a different body under the same key refused)."""
    body = await _body(request)

    async def create() -> refunds.Refund:
        return await resources.create_refund(conn, merchant.id, payment_id, body, config)

    if key is None:
        return _ok(entities.refund(await create()))
    if not 1 <= len(key) <= MAX_REFUND_KEY:
        raise inputs.Invalid(
            f"X-Refund-Idempotency must be 1-{MAX_REFUND_KEY} characters", "X-Refund-Idempotency"
        )
    attempt = idempotency.Attempt(
        merchant.id,
        idempotency.check_key(REFUND_KEY_PREFIX + key),
        idempotency.fingerprint(
            keys.derive(config, idempotency.FINGERPRINT_PURPOSE),
            request.method,
            request.url.path,
            await request.body(),
        ),
    )

    async def run() -> idempotency.Created:
        refund = await create()
        return idempotency.Created(200, deps.json_bytes(entities.refund(refund)), refund.id)

    outcome = await idempotency.run(
        conn, shared.redis_of(request), attempt, run, lease_seconds=config.idempotency_lease_seconds
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return deps.raw_json_response(outcome.status, outcome.body, headers)
