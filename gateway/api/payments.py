"""/api/v1/payments"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from gateway import checkout_signature, instruments, payments
from gateway.api import deps, pages
from gateway.api import orders as orders_api

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])


# instruments.validate's rules, for the OpenAPI document (tests/test_openapi.py holds these
# patterns to the domain's answers). The domain strips the spaces around each card field and
# the spaces and dashes inside a number; an integer is read as its decimal digits.
VPA = "^" + instruments.VPA.pattern + "$"
CARD_NUMBER = r"^[\s-]*(?:[0-9][\s-]*){13,19}$"
EXPIRY_MONTH = r"^\s*0*(?:[1-9]|1[0-2])\s*$"
EXPIRY_YEAR = r"^\s*(?:[0-9]{2}|[0-9]{4})\s*$"
CARD_EXPIRY = r"^\s*0*(?:[1-9]|1[0-2])\s*/\s*(?:[0-9]{2}|[0-9]{4})\s*$"
CVV = r"^\s*" + instruments.CVV.pattern + r"\s*$"


def _text_or_integer(pattern: str, **integer: int) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "integer", **integer}]}


CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "expiry_month", "expiry_year", "cvv"],
    "properties": {
        "number": _text_or_integer(CARD_NUMBER),
        "expiry_month": _text_or_integer(EXPIRY_MONTH, minimum=1, maximum=12),
        "expiry_year": _text_or_integer(EXPIRY_YEAR, minimum=10, maximum=9999),
        "cvv": _text_or_integer(CVV, minimum=100, maximum=9999),
    },
}


def _when_method(method: str, then: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"required": ["method"], "properties": {"method": {"const": method}}},
        "then": then,
    }


def _payment_schema(schema: dict[str, Any]) -> None:
    """The model keeps every field optional so that the domain answers in the contract's order
    (an unknown order is a 404 before a bad method is a 400); the document states the request
    the domain accepts. The VPA matters only for UPI and the card only for cards, so their
    rules are conditional: a card payment with a malformed `vpa` is still accepted."""
    properties = schema["properties"]
    properties["order_id"] = {"type": "string", "minLength": 1, "title": "Order Id"}
    properties["method"] = {"type": "string", "enum": list(payments.METHODS), "title": "Method"}
    schema["required"] = ["order_id", "method"]
    schema["allOf"] = [
        _when_method(
            "upi",
            {
                "required": ["vpa"],
                "properties": {
                    "vpa": {
                        "type": "string",
                        "pattern": VPA,
                        "maxLength": instruments.MAX_VPA_LENGTH,
                    }
                },
            },
        ),
        _when_method(
            "card",
            {
                "anyOf": [
                    {"required": ["card"], "properties": {"card": CARD_SCHEMA}},
                    {
                        "required": ["card_number", "card_expiry", "card_cvv"],
                        "properties": {
                            "card": {"type": "null"},
                            "card_number": _text_or_integer(CARD_NUMBER),
                            "card_expiry": {"type": "string", "pattern": CARD_EXPIRY},
                            "card_cvv": _text_or_integer(CVV, minimum=100, maximum=9999),
                        },
                    },
                ]
            },
        ),
    ]


class CardIn(BaseModel):
    number: str | int | None = None
    expiry_month: str | int | None = None
    expiry_year: str | int | None = None
    cvv: str | int | None = None
    holder_name: str | None = Field(None, max_length=255)


class PaymentCreate(BaseModel):
    """UPI: {order_id, method:"upi", vpa}. Card: {order_id, method:"card", card:{…}} or the
    flat card_number / card_expiry ("MM/YY") / card_cvv / card_holder_name form."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_payment_schema)

    order_id: str | None = None
    method: str | None = Field(None, max_length=16)
    # No length bound here: an over-long VPA is an invalid VPA (INVALID_VPA), not a bad request.
    vpa: str | None = None
    card: CardIn | None = None
    card_number: str | int | None = None
    card_expiry: str | None = Field(None, max_length=16)
    card_cvv: str | int | None = None
    card_holder_name: str | None = Field(None, max_length=255)


class PaymentOut(BaseModel):
    id: str
    order_id: str
    amount: int
    currency: str
    method: str = Field(json_schema_extra={"enum": list(payments.METHODS)})
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str = Field(json_schema_extra={"enum": list(payments.STATUSES)})
    captured: bool
    error_code: str | None
    error_description: str | None
    amount_refunded: int
    created_at: str
    updated_at: str


class PaymentPublicOut(BaseModel):
    """The unauthenticated view the checkout page polls: state and outcome, no payer details."""

    id: str
    order_id: str
    status: str
    amount: int
    currency: str
    method: str
    error_code: str | None
    error_description: str | None
    created_at: str
    updated_at: str
    # Present only when it applies, so the contract's view of a keyless or unfinished payment
    # stays exactly as it was.
    razorpay_signature: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description=(
            "Only once the payment has succeeded and only when `key` is the owning merchant's:"
            " hex HMAC-SHA256 of `order_id|payment_id` keyed with the merchant's API secret, as"
            " Razorpay's checkout hands it to `handler` (verify it with the official SDKs'"
            " `verify_payment_signature`). The hosted page passes it to checkout.js."
        ),
    )


# The publishable key the checkout was opened with (the SDK's `key`): binds the request to that
# merchant's orders. Absent on the contract's direct /checkout?order_id=… link.
CheckoutKey = Annotated[
    str | None,
    Query(max_length=255, description="Publishable API key; only that merchant's orders answer"),
]


class CaptureIn(BaseModel):
    # Stated, not enforced: the payment is looked up first (404), then the amount compared (400).
    amount: StrictInt | None = Field(
        None,
        description="Must equal the payment's amount",
        json_schema_extra={"minimum": orders_api.MIN_AMOUNT, "maximum": orders_api.MAX_AMOUNT},
    )


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _request(body: PaymentCreate) -> instruments.PaymentRequest:
    """Both card forms (nested `card`, flat `card_*` with "MM/YY") as one typed request."""
    card = None
    if body.card is not None:
        card = instruments.CardInput(
            number=_text(body.card.number),
            expiry_month=_text(body.card.expiry_month),
            expiry_year=_text(body.card.expiry_year),
            cvv=_text(body.card.cvv),
            holder_name=body.card.holder_name,
        )
    elif body.method == "card":
        month = year = None
        if body.card_expiry:
            month, _, year = body.card_expiry.partition("/")
        card = instruments.CardInput(
            number=_text(body.card_number),
            expiry_month=month,
            expiry_year=year,
            cvv=_text(body.card_cvv),
            holder_name=body.card_holder_name,
        )
    return instruments.PaymentRequest(
        order_id=body.order_id, method=body.method, vpa=body.vpa, card=card
    )


@router.post("", status_code=201, response_model=PaymentOut)
async def create_payment(
    body: PaymentCreate,
    conn: deps.Conn,
    merchant: deps.Merchant,
    config: deps.Config,
    creation: deps.Create,
) -> Response:
    request = _request(body)
    return await creation.created(lambda: payments.create(conn, merchant.id, request, config))


# The whole payment, as the contract's "201 payment" says, not the public view: the caller has
# just typed every payer detail in it (the VPA, the card whose network and last four it shows)
# and nothing else has happened to it yet, so it tells them nothing they did not send.
@router.post("/public", status_code=201, response_model=PaymentOut)
async def create_payment_public(
    body: PaymentCreate, conn: deps.Conn, config: deps.Config, key: CheckoutKey = None
) -> Response:
    payment = await payments.create(conn, None, _request(body), config, key=key or None)
    return deps.json_response(201, payment.out())


@router.get("", response_model=pages.PageOut[PaymentOut])
async def list_payments(
    conn: deps.Conn,
    merchant: deps.Merchant,
    limit: pages.Limit = 10,
    offset: pages.Offset = 0,
    status: Annotated[str | None, pages.one_of(payments.STATUSES)] = None,
    method: Annotated[str | None, pages.one_of(payments.METHODS)] = None,
) -> Response:
    page = await payments.list_(
        conn, merchant.id, status=status, method=method, limit=limit, offset=offset
    )
    return deps.json_response(200, page.out())


@router.get("/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await payments.get(conn, merchant.id, payment_id)).out())


@router.get("/{payment_id}/public", response_model=PaymentPublicOut)
async def get_payment_public(
    payment_id: str, conn: deps.Conn, config: deps.Config, key: CheckoutKey = None
) -> Response:
    payment = await payments.get_public(conn, payment_id, key or None)
    view = payment.public()
    # Where the hosted page learns the outcome is where it learns the signature: computed here
    # with the merchant's secret, carried by the browser to the merchant's `handler`.
    signature = await checkout_signature.for_checkout(conn, config, payment, key or None)
    if signature is not None:
        view["razorpay_signature"] = signature
    return deps.json_response(200, view)


@router.post("/{payment_id}/capture", response_model=PaymentOut)
async def capture_payment(
    payment_id: str,
    conn: deps.Conn,
    merchant: deps.Merchant,
    body: Annotated[CaptureIn | None, Body()] = None,
) -> Response:
    amount = body.amount if body else None
    payment = await payments.capture(conn, merchant.id, payment_id, amount)
    return deps.json_response(200, payment.out())
