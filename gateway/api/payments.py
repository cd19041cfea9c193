"""/api/v1/payments"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from gateway import payments
from gateway.api import deps

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])


class CardIn(BaseModel):
    number: str | int | None = None
    expiry_month: str | int | None = None
    expiry_year: str | int | None = None
    cvv: str | int | None = None
    holder_name: str | None = Field(None, max_length=255)


class PaymentCreate(BaseModel):
    """UPI: {order_id, method:"upi", vpa}. Card: {order_id, method:"card", card:{…}} or the
    flat card_number / card_expiry ("MM/YY") / card_cvv / card_holder_name form."""

    model_config = ConfigDict(extra="ignore")

    # Optional here so the domain can answer in the contract's order (unknown order → 404
    # before a missing method → 400).
    order_id: str | None = Field(None, max_length=64)
    method: str | None = Field(None, max_length=16)
    vpa: str | None = Field(None, max_length=255)
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
    method: str
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str
    captured: bool
    error_code: str | None
    error_description: str | None
    amount_refunded: int
    created_at: str
    updated_at: str


class PaymentList(BaseModel):
    data: list[PaymentOut]
    total: int
    limit: int
    offset: int


class CaptureIn(BaseModel):
    amount: StrictInt | None = None


def _body(body: PaymentCreate) -> dict[str, Any]:
    return body.model_dump(exclude_none=True)


@router.post("", status_code=201, response_model=PaymentOut)
async def create_payment(
    body: PaymentCreate,
    conn: deps.Conn,
    merchant: deps.Merchant,
    config: deps.Config,
    creation: deps.Create,
) -> Response:
    return await creation.created(lambda: payments.create(conn, merchant.id, _body(body), config))


@router.post("/public", status_code=201, response_model=PaymentOut)
async def create_payment_public(
    body: PaymentCreate, conn: deps.Conn, config: deps.Config
) -> Response:
    payment = await payments.create(conn, None, _body(body), config)
    return deps.json_response(201, payment.out())


@router.get("", response_model=PaymentList)
async def list_payments(
    conn: deps.Conn,
    merchant: deps.Merchant,
    limit: Annotated[int, Query()] = 10,
    offset: Annotated[int, Query()] = 0,
    status: Annotated[str | None, Query()] = None,
    method: Annotated[str | None, Query()] = None,
) -> Response:
    page = await payments.list_(
        conn, merchant.id, status=status, method=method, limit=limit, offset=offset
    )
    return deps.json_response(200, page)


@router.get("/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await payments.get(conn, merchant.id, payment_id)).out())


@router.get("/{payment_id}/public", response_model=PaymentOut)
async def get_payment_public(payment_id: str, conn: deps.Conn) -> Response:
    return deps.json_response(200, (await payments.get(conn, None, payment_id)).out())


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
