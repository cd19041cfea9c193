"""Orders: what a merchant wants paid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import db, errors, ids, pagination, serialize

_COLUMNS = "id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at"
STATUSES = ("created", "paid")


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


def from_row(row: db.Row) -> Order:
    return Order(**{k: row[k] for k in Order.__dataclass_fields__})


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
    row = await db.fetch_one(
        conn,
        "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes)"
        " VALUES (%(id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(receipt)s, %(notes)s)"
        f" RETURNING {_COLUMNS}",
        {
            "id": ids.order(),
            "merchant_id": merchant_id,
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": db.jsonb(notes),
        },
    )
    if row is None:  # INSERT ... RETURNING always returns the row
        raise RuntimeError("insert returned no row")
    return from_row(row)


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
    row = await db.fetch_one(
        conn,
        f"SELECT {_COLUMNS} FROM orders WHERE id = %(id)s AND merchant_id = %(merchant_id)s",
        {"id": order_id, "merchant_id": merchant_id},
    )
    if row is None:
        raise errors.NotFound("Order not found")
    return from_row(row)


async def get_public(conn: db.Conn, order_id: str) -> Order:
    row = await db.fetch_one(
        conn, f"SELECT {_COLUMNS} FROM orders WHERE id = %(id)s", {"id": order_id}
    )
    if row is None:
        raise errors.NotFound("Order not found")
    return from_row(row)


async def list_(
    conn: db.Conn, merchant_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    pagination.choice("status", status, STATUSES)
    rows, total = await pagination.fetch(
        conn,
        table="orders",
        columns=_COLUMNS,
        merchant_id=merchant_id,
        filters={"status": status},
        limit=limit,
        offset=offset,
    )
    return pagination.page([from_row(r).out() for r in rows], total, limit, offset)
