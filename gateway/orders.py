"""Orders: what a merchant wants paid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import db, ids, pagination, serialize

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


async def insert(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any],
) -> Order:
    """Insert on `conn` inside the caller's transaction."""
    return await db.returning(
        conn,
        Order,
        "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes)"
        " VALUES (%(id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(receipt)s, %(notes)s)"
        f" RETURNING {COLUMNS}",
        {
            "id": ids.order(),
            "merchant_id": merchant_id,
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": db.jsonb(notes),
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
) -> Order:
    async with conn.transaction():
        return await insert(
            conn, merchant_id, amount=amount, currency=currency, receipt=receipt, notes=notes
        )


async def get(conn: db.Conn, merchant_id: uuid.UUID, order_id: str) -> Order:
    return await db.get(
        conn,
        Order,
        f"SELECT {COLUMNS} FROM orders WHERE id = %(id)s AND merchant_id = %(merchant_id)s",
        {"id": ids.require("order", order_id, NOT_FOUND), "merchant_id": merchant_id},
        missing=NOT_FOUND,
    )


async def get_public(conn: db.Conn, order_id: str) -> Order:
    """Any merchant's order, by id alone: for the checkout page."""
    return await db.get(
        conn,
        Order,
        f"SELECT {COLUMNS} FROM orders WHERE id = %(id)s",
        {"id": ids.require("order", order_id, NOT_FOUND)},
        missing=NOT_FOUND,
    )


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
