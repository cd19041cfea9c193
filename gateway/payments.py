"""Payments: record one with its events and processing job in one transaction, move it to its
outcome on the job table's clock, capture it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import (
    bank,
    db,
    errors,
    events,
    ids,
    instruments,
    orders,
    pagination,
    serialize,
    settings,
)
from gateway import queue as jobs_queue

STATUSES = ("pending", "success", "failed")
METHODS = instruments.METHODS
NOT_FOUND = "Payment not found"


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    merchant_id: uuid.UUID
    amount: int
    currency: str
    method: str
    status: str
    captured: bool
    vpa: str | None
    card_network: str | None
    card_last4: str | None
    error_code: str | None
    error_description: str | None
    amount_refunded: int
    created_at: dt.datetime
    updated_at: dt.datetime

    def out(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "order_id": self.order_id,
            "amount": self.amount,
            "currency": self.currency,
            "method": self.method,
        }
        if self.method == "upi":
            body["vpa"] = self.vpa
        else:
            body["card_network"] = self.card_network
            body["card_last4"] = self.card_last4
        body.update(
            {
                "status": self.status,
                "captured": self.captured,
                "error_code": self.error_code,
                "error_description": self.error_description,
                "amount_refunded": self.amount_refunded,
                "created_at": serialize.timestamp(self.created_at),
                "updated_at": serialize.timestamp(self.updated_at),
            }
        )
        return body

    def public(self) -> dict[str, Any]:
        """What anyone holding the payment id may read (the checkout page polls it without
        credentials): its state and outcome. No payer details (VPA, card network and last four),
        nothing the merchant did afterwards (capture, refunds)."""
        return {
            "id": self.id,
            "order_id": self.order_id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "method": self.method,
            "error_code": self.error_code,
            "error_description": self.error_description,
            "created_at": serialize.timestamp(self.created_at),
            "updated_at": serialize.timestamp(self.updated_at),
        }

    @property
    def refundable_amount(self) -> int:
        return self.amount - self.amount_refunded


COLUMNS = db.columns(Payment)


async def create(
    conn: db.Conn,
    merchant_id: uuid.UUID | None,
    request: instruments.PaymentRequest,
    config: settings.Settings,
    *,
    key: str | None = None,
) -> Payment:
    """Validate and record a payment. `merchant_id=None` is the public checkout path: the
    merchant is the order's (an active one's, and the owner of `key` when the page names one)."""
    if not request.order_id:
        raise errors.BadRequest("order_id is required")
    if merchant_id is None:
        order = await orders.get_public(conn, request.order_id, key)
    else:
        order = await orders.get(conn, merchant_id, request.order_id)
    instrument = instruments.validate(request, dt.datetime.now(dt.UTC).date())
    if order.status == "paid":
        raise errors.BadRequest("Order already paid")
    # Pipeline mode: BEGIN travels with the INSERT instead of costing a round trip of its own.
    async with conn.pipeline(), conn.transaction():
        return await insert(conn, order, instrument, config)


async def insert(
    conn: db.Conn,
    order: orders.Order,
    instrument: instruments.Instrument,
    config: settings.Settings,
) -> Payment:
    """Payment row, payment.created + payment.pending, and the processing job: call inside
    the caller's transaction so that all of them exist or none does."""
    card = instrument.card
    payment = await db.returning(
        conn,
        Payment,
        "INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, vpa,"
        " card_network, card_last4) VALUES (%(id)s, %(order_id)s, %(m)s, %(amount)s,"
        f" %(currency)s, %(method)s, %(vpa)s, %(network)s, %(last4)s) RETURNING {COLUMNS}",
        {
            "id": ids.payment(),
            "order_id": order.id,
            "m": order.merchant_id,
            "amount": order.amount,
            "currency": order.currency,
            "method": instrument.method,
            "vpa": instrument.vpa,
            "network": card.network if card else None,
            "last4": card.last4 if card else None,
        },
    )
    data = {"payment": payment.out()}
    await events.emit_many(
        conn,
        payment.merchant_id,
        payment.id,
        [("payment.created", data), ("payment.pending", data)],
    )
    await jobs_queue.defer(
        conn,
        jobs_queue.TASK_PROCESS_PAYMENT,
        schedule_at=payment.created_at + bank.payment_delay(config),
        payment_id=payment.id,
    )
    return payment


async def get(conn: db.Conn, merchant_id: uuid.UUID, payment_id: str) -> Payment:
    """One of this merchant's payments; another merchant's is as unknown as a missing one."""
    return await db.get(
        conn,
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE id = %(id)s AND merchant_id = %(m)s",
        {"id": ids.require("pay", payment_id, NOT_FOUND), "m": merchant_id},
        missing=NOT_FOUND,
    )


async def get_public(conn: db.Conn, payment_id: str, key: str | None = None) -> Payment:
    """Any merchant's payment by id alone (the checkout page polls it unauthenticated; answer
    it with `.public()`), or only the merchant's whose publishable `key` the page was opened
    with. A deactivated merchant's payment still answers: its payer must learn the outcome."""
    if key is not None and orders.KEY_SHAPE.fullmatch(key) is None:
        raise errors.NotFound(NOT_FOUND)
    return await db.get(
        conn,
        Payment,
        f"SELECT {db.columns(Payment, 'p')} FROM payments p JOIN merchants m"
        " ON m.id = p.merchant_id"
        " WHERE p.id = %(id)s AND (%(key)s::text IS NULL OR m.api_key = %(key)s)",
        {"id": ids.require("pay", payment_id, NOT_FOUND), "key": key},
        missing=NOT_FOUND,
    )


async def list_(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    status: str | None,
    method: str | None = None,
    limit: int,
    offset: int,
) -> pagination.Page[Payment]:
    pagination.choice("status", status, STATUSES)
    pagination.choice("method", method, METHODS)
    return await pagination.fetch(
        conn,
        Payment,
        table="payments",
        merchant_id=merchant_id,
        filters={"status": status, "method": method},
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True)
class Stats:
    """The dashboard's headline numbers, as the contract defines them."""

    total: int  # payments of any status
    successful: int
    successful_amount: int  # paise, sum of successful payments (refunds not subtracted)

    @property
    def success_rate(self) -> int:
        """Whole percent of payments that succeeded, rounded half up; 0 with no payments."""
        if self.total == 0:
            return 0
        return (200 * self.successful + self.total) // (2 * self.total)


async def stats(conn: db.Conn, merchant_id: uuid.UUID) -> Stats:
    found = await db.one(
        conn,
        Stats,
        "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'success') AS successful,"
        " coalesce(sum(amount) FILTER (WHERE status = 'success'), 0)::bigint AS successful_amount"
        " FROM payments WHERE merchant_id = %(m)s",
        {"m": merchant_id},
    )
    return found or Stats(0, 0, 0)


async def capture(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, amount: int | None
) -> Payment:
    """Capture the whole of a successful payment, once. A payment with any refund is no
    longer capturable: the money captured would include what was already given back. The
    guard is in the UPDATE, so a refund committing first (it locks the row and raises
    amount_refunded) makes this capture fail instead of racing it."""
    current = await get(conn, merchant_id, payment_id)
    if amount is not None and amount != current.amount:
        raise errors.BadRequest("Capture amount must equal the payment amount")
    captured = await db.one(
        conn,
        Payment,
        "UPDATE payments SET captured = true, updated_at = now()"
        " WHERE id = %(id)s AND merchant_id = %(m)s AND status = 'success' AND NOT captured"
        f" AND amount_refunded = 0 RETURNING {COLUMNS}",
        {"id": payment_id, "m": merchant_id},
    )
    if captured is None:
        raise errors.BadRequest("Payment not in capturable state")
    return captured


async def process(conn: db.Conn, payment_id: str, config: settings.Settings) -> Payment | None:
    """Move a pending payment to its outcome. Safe to run twice: a payment that is no longer
    pending is left alone and nothing is emitted."""
    async with conn.transaction():
        current = await db.one(
            conn,
            Payment,
            f"SELECT {COLUMNS} FROM payments WHERE id = %(id)s FOR UPDATE",
            {"id": payment_id},
        )
        if current is None or current.status != "pending":
            return None
        order_row = await db.fetch_one(
            conn,
            "SELECT status FROM orders WHERE id = %(id)s FOR UPDATE",
            {"id": current.order_id},
        )
        succeeded = bank.approves(current.method, config)
        error_code = error_description = None
        if not succeeded:
            error_code, error_description = bank.DECLINED
        elif order_row is not None and order_row["status"] == "paid":
            # Another attempt on this order already succeeded: never charge an order twice.
            succeeded = False
            error_code, error_description = "PAYMENT_FAILED", "Order already paid"
        payment = await db.one(
            conn,
            Payment,
            "UPDATE payments SET status = %(status)s, error_code = %(code)s,"
            " error_description = %(desc)s, updated_at = now()"
            f" WHERE id = %(id)s AND status = 'pending' RETURNING {COLUMNS}",
            {
                "id": payment_id,
                "status": "success" if succeeded else "failed",
                "code": error_code,
                "desc": error_description,
            },
        )
        if payment is None:
            return None
        if succeeded:
            await conn.execute(
                "UPDATE orders SET status = 'paid', updated_at = now()"
                " WHERE id = %(id)s AND status = 'created'",
                {"id": payment.order_id},
            )
        await events.emit(
            conn,
            payment.merchant_id,
            "payment.success" if succeeded else "payment.failed",
            payment.id,
            {"payment": payment.out()},
        )
        return payment
