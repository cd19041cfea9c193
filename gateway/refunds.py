"""Refunds: never more than the payment, recorded with their event and processing job in one
transaction, processed on the job table's clock."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import bank, db, errors, events, ids, pagination, serialize, settings
from gateway import queue as jobs_queue

STATUSES = ("pending", "processed")
# Refunds in these states hold money back from the payment's available amount.
COUNTED = ("pending", "processed")


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    merchant_id: uuid.UUID
    amount: int
    reason: str | None
    status: str
    created_at: dt.datetime
    processed_at: dt.datetime | None

    def out(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "payment_id": self.payment_id,
            "amount": self.amount,
            "reason": self.reason,
            "status": self.status,
            "created_at": serialize.timestamp(self.created_at),
            "processed_at": serialize.timestamp(self.processed_at),
        }


COLUMNS = db.columns(Refund)


async def create(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    payment_id: str,
    *,
    amount: int,
    reason: str | None,
    config: settings.Settings,
) -> Refund:
    """Refund `amount` of a successful payment. The payment row is locked first, so concurrent
    refunds of one payment queue up here and each sees the ones committed before it."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise errors.BadRequest("amount must be a positive integer (paise)")
    async with conn.transaction():
        payment = await db.fetch_one(
            conn,
            "SELECT id, amount, status FROM payments"
            " WHERE id = %(id)s AND merchant_id = %(m)s FOR UPDATE",
            {"id": ids.require("pay", payment_id, "Payment not found"), "m": merchant_id},
        )
        if payment is None:
            raise errors.NotFound("Payment not found")
        if payment["status"] != "success":
            raise errors.BadRequest("Payment not in refundable state")
        held = await db.fetch_one(
            conn,
            "SELECT coalesce(sum(amount), 0) AS n FROM refunds"
            " WHERE payment_id = %(id)s AND status = ANY(%(counted)s)",
            {"id": payment_id, "counted": list(COUNTED)},
        )
        already = int(held["n"]) if held else 0
        if amount > payment["amount"] - already:
            raise errors.BadRequest("Refund amount exceeds available amount")
        refund = await db.returning(
            conn,
            Refund,
            "INSERT INTO refunds (id, payment_id, merchant_id, amount, reason)"
            " VALUES (%(id)s, %(payment_id)s, %(m)s, %(amount)s, %(reason)s)"
            f" RETURNING {COLUMNS}",
            {
                "id": ids.refund(),
                "payment_id": payment_id,
                "m": merchant_id,
                "amount": amount,
                "reason": reason,
            },
        )
        # What the payment object shows; the CHECK on payments bounds it by the amount too.
        await conn.execute(
            "UPDATE payments SET amount_refunded = %(refunded)s, updated_at = now()"
            " WHERE id = %(id)s",
            {"id": payment_id, "refunded": already + amount},
        )
        await events.emit(conn, merchant_id, "refund.created", refund.id, {"refund": refund.out()})
        await jobs_queue.defer(
            conn,
            jobs_queue.TASK_PROCESS_REFUND,
            schedule_at=refund.created_at + bank.refund_delay(config),
            refund_id=refund.id,
        )
        return refund


async def get(conn: db.Conn, merchant_id: uuid.UUID, refund_id: str) -> Refund:
    return await db.get(
        conn,
        Refund,
        f"SELECT {COLUMNS} FROM refunds WHERE id = %(id)s AND merchant_id = %(m)s",
        {"id": ids.require("rfnd", refund_id, "Refund not found"), "m": merchant_id},
        missing="Refund not found",
    )


LISTING = pagination.Listing("refunds")


async def list_(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    window: pagination.Window,
    *,
    payment_id: str | None,
    status: str | None,
) -> pagination.Page[Refund]:
    pagination.choice("status", status, STATUSES)
    return await pagination.fetch(
        conn,
        Refund,
        LISTING,
        merchant_id=merchant_id,
        filters={"payment_id": payment_id, "status": status},
        window=window,
    )


async def process(conn: db.Conn, refund_id: str) -> Refund | None:
    """Mark a pending refund processed. Safe to run twice: the guarded update finds nothing the
    second time and nothing is emitted."""
    async with conn.transaction():
        refund = await db.one(
            conn,
            Refund,
            "UPDATE refunds SET status = 'processed', processed_at = now()"
            f" WHERE id = %(id)s AND status = 'pending' RETURNING {COLUMNS}",
            {"id": refund_id},
        )
        if refund is None:
            return None
        await events.emit(
            conn, refund.merchant_id, "refund.processed", refund.id, {"refund": refund.out()}
        )
        return refund
