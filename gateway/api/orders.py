"""/api/v1/orders"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from gateway import orders
from gateway.api import deps
from gateway.api.pages import PageOut

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

MAX_NOTES = 15


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: StrictInt = Field(ge=100, le=10**12, description="Integer paise, at least 100")
    currency: StrictStr = Field("INR", pattern="^INR$")
    receipt: StrictStr | None = Field(None, max_length=255)
    notes: dict[str, Any] = Field(
        default_factory=dict,
        description="Up to 15 keys (≤ 64 characters) with string (≤ 512), integer, boolean or"
        " null values, as Razorpay's notes",
    )

    @field_validator("notes")
    @classmethod
    def _flat_notes(cls, notes: dict[str, Any]) -> dict[str, Any]:
        # Flat and bounded: nested or huge numbers would not survive a round trip through
        # jsonb and JavaScript clients unchanged.
        if len(notes) > MAX_NOTES:
            raise ValueError(f"at most {MAX_NOTES} notes")
        for key, value in notes.items():
            if len(key) > 64:
                raise ValueError("note keys must be at most 64 characters")
            if isinstance(value, str):
                if len(value) > 512:
                    raise ValueError("note values must be at most 512 characters")
            elif isinstance(value, int) and not isinstance(value, bool):
                if abs(value) > 2**53:
                    raise ValueError("note numbers must be integers within ±2^53")
            elif value is not None and not isinstance(value, bool):
                raise ValueError("note values must be strings, integers, booleans or null")
        return notes


class OrderOut(BaseModel):
    id: str
    merchant_id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    status: str
    created_at: str
    updated_at: str


class OrderPublicOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: str


@router.post("", status_code=201, response_model=OrderOut)
async def create_order(
    body: OrderCreate, conn: deps.Conn, merchant: deps.Merchant, creation: deps.Create
) -> Response:
    return await creation.created(
        lambda: orders.create(
            conn,
            merchant.id,
            amount=body.amount,
            currency=body.currency,
            receipt=body.receipt,
            notes=body.notes,
        )
    )


@router.get("", response_model=PageOut[OrderOut])
async def list_orders(
    conn: deps.Conn,
    merchant: deps.Merchant,
    limit: Annotated[int, Query()] = 10,
    offset: Annotated[int, Query()] = 0,
    status: Annotated[str | None, Query()] = None,
) -> Response:
    page = await orders.list_(conn, merchant.id, status=status, limit=limit, offset=offset)
    return deps.json_response(200, page.out())


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await orders.get(conn, merchant.id, order_id)).out())


@router.get("/{order_id}/public", response_model=OrderPublicOut)
async def get_order_public(
    order_id: str,
    conn: deps.Conn,
    key: Annotated[
        str | None,
        Query(max_length=255, description="Publishable API key; only that merchant's orders"),
    ] = None,
) -> Response:
    """404 as for an unknown order when the merchant is deactivated or `key` is not theirs."""
    return deps.json_response(200, (await orders.get_public(conn, order_id, key or None)).public())
