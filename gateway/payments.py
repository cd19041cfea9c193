"""Payments: validate, record with their events and processing job in one transaction,
process on the job table's clock, capture."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import cards, db, errors, events, ids, orders, pagination, serialize, settings
from gateway import queue as jobs_queue

_COLUMNS = (
    "id, order_id, merchant_id, amount, currency, method, status, captured, vpa, card_network,"
    " card_last4, error_code, error_description, amount_refunded, created_at, updated_at"
)
STATUSES = ("pending", "success", "failed")
METHODS = ("upi", "card")


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


def from_row(row: db.Row) -> Payment:
    return Payment(**{k: row[k] for k in Payment.__dataclass_fields__})


@dataclass(frozen=True)
class Instrument:
    """A validated method: what may be stored. Never holds a card number or CVV."""

    method: str
    vpa: str | None = None
    card: cards.CardSummary | None = None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise errors.BadRequest("Card fields must be strings")
    return str(value)


def validate_instrument(body: dict[str, Any], today: dt.date) -> Instrument:
    """Contract order after the order lookup: method → VPA / card fields → Luhn → expiry."""
    method = body.get("method")
    if method not in METHODS:
        raise errors.BadRequest("Invalid payment method; use 'upi' or 'card'")
    if method == "upi":
        vpa = body.get("vpa")
        if vpa is None or vpa == "":
            raise errors.BadRequest("vpa is required for UPI payments")
        if not isinstance(vpa, str):
            raise errors.InvalidVpa("Invalid VPA format")
        return Instrument("upi", vpa=cards.check_vpa(vpa))
    card = body.get("card")
    if card is not None:
        if not isinstance(card, dict):
            raise errors.BadRequest("card must be an object")
        number, month, year = (
            _text(card.get("number")),
            _text(card.get("expiry_month")),
            _text(card.get("expiry_year")),
        )
        cvv = _text(card.get("cvv"))
    else:
        number, cvv = _text(body.get("card_number")), _text(body.get("card_cvv"))
        expiry = _text(body.get("card_expiry"))
        month = year = None
        if expiry:
            month, _, year = expiry.partition("/")
    missing = [
        name
        for name, value in (
            ("number", number),
            ("expiry_month", month),
            ("expiry_year", year),
            ("cvv", cvv),
        )
        if not value
    ]
    if missing or not (number and month and year and cvv):
        raise errors.BadRequest(f"Missing card fields: {', '.join(missing)}")
    return Instrument("card", card=cards.check_card(number, month, year, cvv, today))


def processing_delay(config: settings.Settings) -> dt.timedelta:
    if config.test_mode:
        return dt.timedelta(milliseconds=config.test_processing_delay)
    low, high = config.processing_delay_min, config.processing_delay_max
    return dt.timedelta(milliseconds=low + secrets.randbelow(high - low + 1))


async def create(
    conn: db.Conn,
    merchant_id: uuid.UUID | None,
    body: dict[str, Any],
    config: settings.Settings,
) -> Payment:
    """Validate and record a payment. `merchant_id=None` is the public checkout path: the
    merchant is the order's."""
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise errors.BadRequest("order_id is required")
    if merchant_id is None:
        order = await orders.get_public(conn, order_id)
    else:
        order = await orders.get(conn, merchant_id, order_id)
    instrument = validate_instrument(body, dt.datetime.now(dt.UTC).date())
    if order.status == "paid":
        raise errors.BadRequest("Order already paid")
    # Pipeline mode: BEGIN travels with the INSERT instead of costing a round trip of its own.
    async with conn.pipeline(), conn.transaction():
        return await insert(conn, order, instrument, config)


async def insert(
    conn: db.Conn, order: orders.Order, instrument: Instrument, config: settings.Settings
) -> Payment:
    """Payment row, payment.created + payment.pending, and the processing job: call inside
    the caller's transaction so that all of them exist or none does."""
    card = instrument.card
    row = await db.fetch_one(
        conn,
        "INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, vpa,"
        " card_network, card_last4) VALUES (%(id)s, %(order_id)s, %(m)s, %(amount)s,"
        f" %(currency)s, %(method)s, %(vpa)s, %(network)s, %(last4)s) RETURNING {_COLUMNS}",
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
    if row is None:  # INSERT ... RETURNING always returns the row
        raise RuntimeError("insert returned no row")
    payment = from_row(row)
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
        schedule_at=payment.created_at + processing_delay(config),
        payment_id=payment.id,
    )
    return payment


async def get(conn: db.Conn, merchant_id: uuid.UUID | None, payment_id: str) -> Payment:
    row = await db.fetch_one(
        conn,
        f"SELECT {_COLUMNS} FROM payments WHERE id = %(id)s"
        " AND (%(m)s::uuid IS NULL OR merchant_id = %(m)s)",
        {"id": payment_id, "m": merchant_id},
    )
    if row is None:
        raise errors.NotFound("Payment not found")
    return from_row(row)


async def list_(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    status: str | None,
    method: str | None = None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    pagination.choice("status", status, STATUSES)
    pagination.choice("method", method, METHODS)
    rows, total = await pagination.fetch(
        conn,
        table="payments",
        columns=_COLUMNS,
        merchant_id=merchant_id,
        filters={"status": status, "method": method},
        limit=limit,
        offset=offset,
    )
    return pagination.page([from_row(r).out() for r in rows], total, limit, offset)


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
    row = await db.fetch_one(
        conn,
        "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'success') AS successful,"
        " coalesce(sum(amount) FILTER (WHERE status = 'success'), 0) AS successful_amount"
        " FROM payments WHERE merchant_id = %(m)s",
        {"m": merchant_id},
    )
    if row is None:  # an aggregate always returns a row
        return Stats(0, 0, 0)
    return Stats(int(row["total"]), int(row["successful"]), int(row["successful_amount"]))


async def capture(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, amount: int | None
) -> Payment:
    current = await get(conn, merchant_id, payment_id)
    if amount is not None and amount != current.amount:
        raise errors.BadRequest("Capture amount must equal the payment amount")
    row = await db.fetch_one(
        conn,
        "UPDATE payments SET captured = true, updated_at = now()"
        " WHERE id = %(id)s AND merchant_id = %(m)s AND status = 'success' AND NOT captured"
        f" RETURNING {_COLUMNS}",
        {"id": payment_id, "m": merchant_id},
    )
    if row is None:
        raise errors.BadRequest("Payment not in capturable state")
    return from_row(row)


def decide_outcome(method: str, config: settings.Settings) -> bool:
    if config.test_mode:
        return config.test_payment_success
    rate = config.upi_success_rate if method == "upi" else config.card_success_rate
    return secrets.randbelow(1_000_000) < int(rate * 1_000_000)


async def process(conn: db.Conn, payment_id: str, config: settings.Settings) -> Payment | None:
    """Move a pending payment to its outcome. Safe to run twice: a payment that is no longer
    pending is left alone and nothing is emitted."""
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            f"SELECT {_COLUMNS} FROM payments WHERE id = %(id)s FOR UPDATE",
            {"id": payment_id},
        )
        if row is None or row["status"] != "pending":
            return None
        order_row = await db.fetch_one(
            conn, "SELECT status FROM orders WHERE id = %(id)s FOR UPDATE", {"id": row["order_id"]}
        )
        succeeded = decide_outcome(row["method"], config)
        error_code = error_description = None
        if not succeeded:
            error_code, error_description = "PAYMENT_FAILED", "Payment declined by the bank"
        elif order_row is not None and order_row["status"] == "paid":
            # Another attempt on this order already succeeded: never charge an order twice.
            succeeded = False
            error_code, error_description = "PAYMENT_FAILED", "Order already paid"
        updated = await db.fetch_one(
            conn,
            "UPDATE payments SET status = %(status)s, error_code = %(code)s,"
            " error_description = %(desc)s, updated_at = now()"
            f" WHERE id = %(id)s AND status = 'pending' RETURNING {_COLUMNS}",
            {
                "id": payment_id,
                "status": "success" if succeeded else "failed",
                "code": error_code,
                "desc": error_description,
            },
        )
        if updated is None:
            return None
        payment = from_row(updated)
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
