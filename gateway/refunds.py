"""Refunds: never more than the payment, recorded with their event and processing job in one
transaction, processed on the job table's clock."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import bank, db, errors, events, ids, pagination, payments, serialize, settings
from gateway import queue as jobs_queue
from gateway.razorpay import outbox

STATUSES = ("pending", "processed")
SPEEDS = ("normal", "optimum")
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
    # Razorpay's refund fields (set through /v1); no classic shape shows them.
    notes: dict[str, Any]
    receipt: str | None
    speed_requested: str

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
    amount: int | None,
    reason: str | None,
    config: settings.Settings,
    notes: dict[str, Any] | None = None,
    receipt: str | None = None,
    speed: str = "normal",
    captured_only: bool = False,
) -> Refund:
    """Refund `amount` of a successful payment; None (Razorpay's refund without an amount) is
    whatever is still available. `captured_only`: /v1 refunds only captured payments, as
    Razorpay does; the classic API refunds any successful one. The payment row is locked
    first, so concurrent refunds of one payment queue up here and each sees the ones
    committed before it."""
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0
    ):
        raise errors.BadRequest("amount must be a positive integer (paise)")
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            f"SELECT {payments.COLUMNS}, {payments.RAZORPAY_HOOKED} FROM payments"
            " WHERE id = %(id)s AND merchant_id = %(m)s FOR UPDATE",
            {"id": ids.require("pay", payment_id, "Payment not found"), "m": merchant_id},
        )
        if row is None:
            raise errors.NotFound("Payment not found")
        payment = db.load(payments.Payment, row)
        if payment.status != "success":
            raise errors.BadRequest("Payment not in refundable state")
        if captured_only and not payment.captured:
            raise errors.BadRequest("Only captured payments can be refunded; capture it first")
        held = await db.fetch_one(
            conn,
            "SELECT coalesce(sum(amount), 0) AS n FROM refunds"
            " WHERE payment_id = %(id)s AND status = ANY(%(counted)s)",
            {"id": payment_id, "counted": list(COUNTED)},
        )
        already = int(held["n"]) if held else 0
        available = payment.amount - already
        if amount is None:
            if available <= 0:
                raise errors.BadRequest("The payment has been fully refunded already")
            amount = available
        if amount > available:
            raise errors.BadRequest("Refund amount exceeds available amount")
        refund = await db.returning(
            conn,
            Refund,
            "INSERT INTO refunds (id, payment_id, merchant_id, amount, reason, notes, receipt,"
            " speed_requested) VALUES (%(id)s, %(payment_id)s, %(m)s, %(amount)s, %(reason)s,"
            f" %(notes)s, %(receipt)s, %(speed)s) RETURNING {COLUMNS}",
            {
                "id": ids.refund(),
                "payment_id": payment_id,
                "m": merchant_id,
                "amount": amount,
                "reason": reason,
                "notes": db.jsonb(notes or {}),
                "receipt": receipt,
                "speed": speed,
            },
        )
        # What the payment object shows; the CHECK on payments bounds it by the amount too.
        refunded = await db.returning(
            conn,
            payments.Payment,
            "UPDATE payments SET amount_refunded = %(refunded)s, updated_at = now()"
            f" WHERE id = %(id)s RETURNING {payments.COLUMNS}",
            {"id": payment_id, "refunded": already + amount},
        )
        await events.emit(conn, merchant_id, "refund.created", refund.id, {"refund": refund.out()})
        if row["razorpay"]:
            await outbox.refund_event(conn, "refund.created", refund, refunded)
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


async def list_(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    payment_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> pagination.Page[Refund]:
    pagination.choice("status", status, STATUSES)
    return await pagination.fetch(
        conn,
        Refund,
        table="refunds",
        merchant_id=merchant_id,
        filters={"payment_id": payment_id, "status": status},
        limit=limit,
        offset=offset,
    )


async def set_notes(
    conn: db.Conn, merchant_id: uuid.UUID, refund_id: str, notes: dict[str, Any]
) -> Refund:
    """Replace a refund's notes (Razorpay's notes-only PATCH)."""
    return await db.get(
        conn,
        Refund,
        "UPDATE refunds SET notes = %(notes)s WHERE id = %(id)s AND merchant_id = %(m)s"
        f" RETURNING {COLUMNS}",
        {
            "id": ids.require("rfnd", refund_id, "Refund not found"),
            "m": merchant_id,
            "notes": db.jsonb(notes),
        },
        missing="Refund not found",
    )


async def process(conn: db.Conn, refund_id: str) -> Refund | None:
    """Mark a pending refund processed. Safe to run twice: the guarded update finds nothing the
    second time and nothing is emitted."""
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            "UPDATE refunds SET status = 'processed', processed_at = now()"
            " WHERE id = %(id)s AND status = 'pending' RETURNING"
            f" {COLUMNS}, (SELECT m.webhook_url IS NOT NULL AND m.webhook_format = 'razorpay'"
            " FROM merchants m WHERE m.id = refunds.merchant_id) AS razorpay",
            {"id": refund_id},
        )
        if row is None:
            return None
        refund = db.load(Refund, row)
        await events.emit(
            conn, refund.merchant_id, "refund.processed", refund.id, {"refund": refund.out()}
        )
        if row["razorpay"]:
            payment = await payments.get(conn, refund.merchant_id, refund.payment_id)
            await outbox.refund_event(conn, "refund.processed", refund, payment)
        return refund
