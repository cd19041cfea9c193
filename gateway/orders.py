"""Orders: what a merchant wants paid."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import db, errors, ids, pagination, serialize

STATUSES = ("created", "paid")
NOT_FOUND = "Order not found"


@dataclass(frozen=True)
class Order:
    id: str
    merchant_id: uuid.UUID
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    # Set by /v1 (Razorpay's payment_capture): capture a successful payment at once (True) or
    # leave it authorized (False). None: a classic order; the classic shapes never show it.
    payment_capture: bool | None

    def out(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "merchant_id": str(self.merchant_id),
            "amount": self.amount,
            "currency": self.currency,
            "receipt": self.receipt,
            "notes": self.notes,
            "status": self.status,
            "created_at": serialize.timestamp(self.created_at),
            "updated_at": serialize.timestamp(self.updated_at),
        }

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
        }


COLUMNS = db.columns(Order)


@dataclass(frozen=True)
class Progress(Order):
    """An order with what its payments add up to, as Razorpay's order entity shows it: how many
    payments were attempted and how much of it was captured."""

    attempts: int
    amount_paid: int


# Progress's extra columns, for a query over `orders o`.
PROGRESS_COLUMNS = (
    f"{db.columns(Order, 'o')}, coalesce(s.attempts, 0) AS attempts,"
    " coalesce(s.amount_paid, 0)::bigint AS amount_paid"
)
PROGRESS_JOIN = (
    "LEFT JOIN LATERAL (SELECT count(*) AS attempts,"
    " sum(p.amount) FILTER (WHERE p.captured) AS amount_paid"
    " FROM payments p WHERE p.order_id = o.id) s ON true"
)


async def progress(conn: db.Conn, merchant_id: uuid.UUID, order_id: str) -> Progress:
    return await db.get(
        conn,
        Progress,
        f"SELECT {PROGRESS_COLUMNS} FROM orders o {PROGRESS_JOIN}"
        " WHERE o.id = %(id)s AND o.merchant_id = %(m)s",
        {"id": ids.require("order", order_id, NOT_FOUND), "m": merchant_id},
        missing=NOT_FOUND,
    )


async def insert(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any],
    payment_capture: bool | None = None,
) -> Order:
    """Insert on `conn` inside the caller's transaction."""
    return await db.returning(
        conn,
        Order,
        "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, payment_capture)"
        " VALUES (%(id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(receipt)s, %(notes)s,"
        f" %(capture)s) RETURNING {COLUMNS}",
        {
            "id": ids.order(),
            "merchant_id": merchant_id,
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": db.jsonb(notes),
            "capture": payment_capture,
        },
    )


async def create(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any],
    payment_capture: bool | None = None,
) -> Order:
    async with conn.transaction():
        return await insert(
            conn,
            merchant_id,
            amount=amount,
            currency=currency,
            receipt=receipt,
            notes=notes,
            payment_capture=payment_capture,
        )


async def get(conn: db.Conn, merchant_id: uuid.UUID, order_id: str) -> Order:
    return await db.get(
        conn,
        Order,
        f"SELECT {COLUMNS} FROM orders WHERE id = %(id)s AND merchant_id = %(merchant_id)s",
        {"id": ids.require("order", order_id, NOT_FOUND), "merchant_id": merchant_id},
        missing=NOT_FOUND,
    )


# The checkout's view of an order: an active merchant's, and when the page names the merchant's
# key (the SDK's `key` option), only that merchant's. Anything else answers exactly as an
# unknown order does, so a key cannot be used to probe which orders exist.
_CHECKOUT_ORDER = (
    "FROM orders o JOIN merchants m ON m.id = o.merchant_id"
    " WHERE o.id = %(id)s AND m.is_active AND (%(key)s::text IS NULL OR m.api_key = %(key)s)"
)
# Wider than any key we issue; anything else (a NUL, a space) matches no merchant.
KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")


def checkout_params(order_id: str, key: str | None) -> dict[str, Any]:
    if key is not None and KEY_SHAPE.fullmatch(key) is None:
        raise errors.NotFound(NOT_FOUND)  # no key has that shape
    return {"id": ids.require("order", order_id, NOT_FOUND), "key": key}


async def get_public(conn: db.Conn, order_id: str, key: str | None = None) -> Order:
    """Any active merchant's order, by id alone (the contract's direct checkout link), or bound
    to the merchant whose publishable `key` the checkout was opened with."""
    return await db.get(
        conn,
        Order,
        f"SELECT {db.columns(Order, 'o')} {_CHECKOUT_ORDER}",
        checkout_params(order_id, key),
        missing=NOT_FOUND,
    )


async def checkout_origins(conn: db.Conn, order_id: str, key: str | None) -> list[str] | None:
    """The origins the order's merchant lets embed its checkout ([] = none configured), or None
    when the checkout could not show this order at all (see get_public)."""
    try:
        params = checkout_params(order_id, key)
    except errors.NotFound:
        return None
    row = await db.fetch_one(conn, f"SELECT m.checkout_origins {_CHECKOUT_ORDER}", params)
    return None if row is None else list(row["checkout_origins"])


async def list_(
    conn: db.Conn, merchant_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> pagination.Page[Order]:
    pagination.choice("status", status, STATUSES)
    return await pagination.fetch(
        conn,
        Order,
        table="orders",
        merchant_id=merchant_id,
        filters={"status": status},
        limit=limit,
        offset=offset,
    )
