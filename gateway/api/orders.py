"""/api/v1/orders"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from gateway import orders
from gateway.api import deps, openapi, pages

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

MIN_AMOUNT = 100
MAX_AMOUNT = 10**12
MAX_NOTES = 15
MAX_NOTE_KEY = 64
MAX_NOTE_TEXT = 512
MAX_NOTE_NUMBER = 2**53

# What _flat_notes allows (and PostgreSQL's jsonb can store), for the OpenAPI document.
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_NOTES,
    "propertyNames": {"maxLength": MAX_NOTE_KEY, "pattern": openapi.NO_NUL},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": MAX_NOTE_TEXT, "pattern": openapi.NO_NUL},
            {"type": "integer", "minimum": -MAX_NOTE_NUMBER, "maximum": MAX_NOTE_NUMBER},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: StrictInt = Field(
        ge=MIN_AMOUNT, le=MAX_AMOUNT, description="Integer paise, at least 100"
    )
    currency: StrictStr = Field("INR", pattern="^INR$")
    receipt: StrictStr | None = Field(
        None, max_length=255, json_schema_extra={"pattern": openapi.NO_NUL}
    )
    notes: dict[str, Any] = Field(
        default_factory=dict,
        description="Up to 15 keys (≤ 64 characters) with string (≤ 512), integer, boolean or"
        " null values, as Razorpay's notes",
        json_schema_extra=NOTES_SCHEMA,
    )

    @field_validator("notes")
    @classmethod
    def _flat_notes(cls, notes: dict[str, Any]) -> dict[str, Any]:
        # Flat and bounded: nested or huge numbers would not survive a round trip through
        # jsonb and JavaScript clients unchanged.
        if len(notes) > MAX_NOTES:
            raise ValueError(f"at most {MAX_NOTES} notes")
        for key, value in notes.items():
            if len(key) > MAX_NOTE_KEY:
                raise ValueError(f"note keys must be at most {MAX_NOTE_KEY} characters")
            if isinstance(value, str):
                if len(value) > MAX_NOTE_TEXT:
                    raise ValueError(f"note values must be at most {MAX_NOTE_TEXT} characters")
            elif isinstance(value, int) and not isinstance(value, bool):
                if abs(value) > MAX_NOTE_NUMBER:
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
    status: str = Field(json_schema_extra={"enum": list(orders.STATUSES)})
    created_at: str
    updated_at: str


class OrderPublicOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: str = Field(json_schema_extra={"enum": list(orders.STATUSES)})


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


@router.get("", response_model=pages.PageOut[OrderOut])
async def list_orders(
    conn: deps.Conn,
    merchant: deps.Merchant,
    window: pages.Window,
    status: Annotated[str | None, pages.one_of(orders.STATUSES)] = None,
) -> Response:
    page = await orders.list_(conn, merchant.id, window, status=status)
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
