"""Payments: record one with its events and processing job in one transaction, move it to its
outcome on the job table's clock, capture it."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import (
    bank,
    db,
    errors,
    ids,
    instruments,
    orders,
    pagination,
    serialize,
    settings,
)
from gateway import queue as jobs_queue
from gateway.razorpay import outbox

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
    # Razorpay's payment notes (PATCH /v1/payments/{id}); None = none. No classic shape shows it.
    notes: dict[str, Any] | None

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
    order_id = ids.require("order", request.order_id, orders.NOT_FOUND)
    params = orders.checkout_params(order_id, key) if merchant_id is None else {}
    try:
        instrument = instruments.validate(request, dt.datetime.now(dt.UTC).date())
    except errors.GatewayError:
        # The contract's order puts an unknown order (404) before a bad method or card (400);
        # the order is looked up by the insert itself, so only a refusal pays for a lookup.
        if merchant_id is None:
            await orders.get_public(conn, order_id, key)
        else:
            await orders.get(conn, merchant_id, order_id)
        raise
    return await insert(conn, merchant_id, order_id, instrument, config, key=params.get("key"))


def _outbox(hooked: str) -> str:
    """CTEs `e`, `l` and `deliver`, which follow a statement's CTEs `p` (the payment, at most
    one row) and `ev` (its events: n, id, type): the events with their bodies (rendered by
    db/migrations/0010), a delivery log per event when `hooked` (SQL) is true, and one delivery
    job for those logs, in emission order — events.emit_many's outbox, in SQL."""
    return f"""
e AS (
    INSERT INTO events (id, merchant_id, type, resource_id, payload)
    SELECT ev.id, p.merchant_id, ev.type, p.id,
        gateway_payment_event(ev.type, %(ts)s, ROW(p.*)::payments)
    FROM p, ev ORDER BY ev.n
    RETURNING id, merchant_id, type, resource_id, payload
), l AS (
    INSERT INTO webhook_logs (id, merchant_id, event_id, event, resource_id, payload)
    SELECT gen_random_uuid(), e.merchant_id, e.id, e.type, e.resource_id, e.payload
    FROM e JOIN ev ON ev.id = e.id
    WHERE {hooked}
    ORDER BY ev.n
    RETURNING id, event_id
), deliver AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, args)
    SELECT %(deliver_queue)s, %(deliver_task)s,
        jsonb_build_object('log_ids', array_agg(l.id::text ORDER BY ev.n))
    FROM l JOIN ev ON ev.id = l.event_id
    HAVING count(*) > 0
)"""


_OUTBOX_PARAMS = {
    "deliver_queue": jobs_queue.QUEUES[jobs_queue.TASK_DELIVER_WEBHOOK],
    "deliver_task": jobs_queue.TASK_DELIVER_WEBHOOK,
}
_RETURNED = ", ".join("p." + name for name in COLUMNS.split(", "))


def _insert_statement(order_condition: str) -> str:
    """One statement, so one round trip and its own transaction: find the order → insert the
    payment unless the order is paid → payment.created and payment.pending with their delivery
    logs and job (_outbox) → the processing job at created_at + delay. Data-modifying CTEs
    always run to completion: all of it commits or none does. The job rows are the ones
    procrastinate's own defer function inserts."""
    return f"""
WITH o AS (
    SELECT o.id, o.merchant_id, o.amount, o.currency, o.status,
        -- Razorpay-format merchants get no webhook at creation (payment.created and
        -- payment.pending have no Razorpay counterpart).
        m.webhook_url IS NOT NULL AND m.webhook_format = 'classic' AS hooked
    FROM orders o JOIN merchants m ON m.id = o.merchant_id
    WHERE o.id = %(order_id)s AND {order_condition}
), p AS (
    INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, vpa, card_network,
        card_last4)
    SELECT %(id)s, o.id, o.merchant_id, o.amount, o.currency, %(method)s, %(vpa)s, %(network)s,
        %(last4)s
    FROM o WHERE o.status <> 'paid'
    RETURNING *
), ev (n, id, type) AS (
    VALUES (1, %(e1)s, 'payment.created'), (2, %(e2)s, 'payment.pending')
), {_outbox("(SELECT hooked FROM o)")}, process AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)
    SELECT %(queue)s, %(task)s, jsonb_build_object('payment_id', p.id), p.created_at + %(delay)s
    FROM p
)
SELECT o.status AS order_status, {_RETURNED}
FROM o LEFT JOIN p ON true
"""


_INSERT = _insert_statement("o.merchant_id = %(m)s")
# The public checkout path: any active merchant's order, or the one whose key the page names.
_INSERT_PUBLIC = _insert_statement("m.is_active AND (%(key)s::text IS NULL OR m.api_key = %(key)s)")


async def insert(
    conn: db.Conn,
    merchant_id: uuid.UUID | None,
    order_id: str,
    instrument: instruments.Instrument,
    config: settings.Settings,
    *,
    key: str | None = None,
) -> Payment:
    """Record a validated payment with its events, delivery logs and jobs (`merchant_id=None`:
    the public path, see create). Inside a caller's transaction it is part of that transaction;
    alone, it is one."""
    card = instrument.card
    row = await db.fetch_one(
        conn,
        _INSERT if merchant_id is not None else _INSERT_PUBLIC,
        {
            "order_id": order_id,
            "m": merchant_id,
            "key": key,
            "id": ids.payment(),
            "method": instrument.method,
            "vpa": instrument.vpa,
            "network": card.network if card else None,
            "last4": card.last4 if card else None,
            "ts": int(time.time()),
            "e1": ids.event(),
            "e2": ids.event(),
            "queue": jobs_queue.QUEUES[jobs_queue.TASK_PROCESS_PAYMENT],
            "task": jobs_queue.TASK_PROCESS_PAYMENT,
            "delay": bank.payment_delay(config),
            **_OUTBOX_PARAMS,
        },
    )
    if row is None:
        raise errors.NotFound(orders.NOT_FOUND)
    if row["id"] is None:
        raise errors.BadRequest("Order already paid")
    return db.load(Payment, row)


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


# Whether the merchant of the row in hand (`payments`) receives Razorpay-format webhooks now.
RAZORPAY_HOOKED = (
    "(SELECT m.webhook_url IS NOT NULL AND m.webhook_format = 'razorpay' FROM merchants m"
    " WHERE m.id = payments.merchant_id) AS razorpay"
)


async def capture(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, amount: int | None
) -> Payment:
    """Capture the whole of a successful payment, once. A payment with any refund is no
    longer capturable: the money captured would include what was already given back. The
    guard is in the UPDATE, so a refund committing first (it locks the row and raises
    amount_refunded) makes this capture fail instead of racing it.

    A Razorpay-format merchant receives payment.captured and order.paid, committed with the
    capture; a classic one receives nothing, as before (the classic set has no such event)."""
    current = await get(conn, merchant_id, payment_id)
    if amount is not None and amount != current.amount:
        raise errors.BadRequest("Capture amount must equal the payment amount")
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            "UPDATE payments SET captured = true, updated_at = now()"
            " WHERE id = %(id)s AND merchant_id = %(m)s AND status = 'success' AND NOT captured"
            f" AND amount_refunded = 0 RETURNING {COLUMNS}, {RAZORPAY_HOOKED}",
            {"id": payment_id, "m": merchant_id},
        )
        if row is None:
            raise errors.BadRequest("Payment not in capturable state")
        captured = db.load(Payment, row)
        if row["razorpay"]:
            await outbox.payment_captured(conn, captured)
    return captured


async def set_notes(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, notes: dict[str, Any]
) -> Payment:
    """Replace a payment's notes (Razorpay's notes-only PATCH)."""
    return await db.get(
        conn,
        Payment,
        "UPDATE payments SET notes = %(notes)s, updated_at = now()"
        f" WHERE id = %(id)s AND merchant_id = %(m)s RETURNING {COLUMNS}",
        {
            "id": ids.require("pay", payment_id, NOT_FOUND),
            "m": merchant_id,
            "notes": db.jsonb(notes),
        },
        missing=NOT_FOUND,
    )


# Processing in one statement: lock the payment if still pending, then its order (a success
# for an order another attempt already paid becomes a failure: never charge an order twice),
# record the outcome (captured at once when a /v1 order asked for it), mark the order paid, and
# payment.success / payment.failed through the outbox. In READ COMMITTED a row lock that had to
# wait returns the row's latest version, so a concurrent run of this job finds the payment no
# longer pending and changes nothing.
#
# A Razorpay-hooked merchant's events are rendered in Python, in the same transaction. The
# statement cannot know that before it runs, so without %(razorpay_ready)s it changes nothing
# for such a merchant and says so (`razorpay` true, no payment): process() then runs it again
# inside a transaction and adds the Razorpay events. A classic merchant's payment stays one
# statement in autocommit, one round trip, as before.
_PROCESS = f"""
WITH current AS (
    SELECT payments.id, payments.order_id, payments.method,
        m.webhook_url IS NOT NULL AND m.webhook_format = 'razorpay' AS razorpay
    FROM payments JOIN merchants m ON m.id = payments.merchant_id
    WHERE payments.id = %(id)s AND payments.status = 'pending' FOR UPDATE OF payments
), o AS (
    SELECT orders.status, orders.payment_capture
    FROM orders JOIN current ON orders.id = current.order_id
    FOR UPDATE OF orders
), outcome AS (
    SELECT current.id, CASE
        WHEN NOT (CASE current.method WHEN 'upi' THEN %(upi)s ELSE %(card)s END) THEN 'declined'
        WHEN (SELECT status FROM o) = 'paid' THEN 'paid'
        ELSE 'success' END AS result
    FROM current WHERE %(razorpay_ready)s OR NOT current.razorpay
), p AS (
    UPDATE payments SET
        status = CASE outcome.result WHEN 'success' THEN 'success' ELSE 'failed' END,
        captured = outcome.result = 'success'
            AND coalesce((SELECT payment_capture FROM o), false),
        error_code = CASE outcome.result WHEN 'success' THEN NULL ELSE %(failed_code)s END,
        error_description = CASE outcome.result WHEN 'declined' THEN %(declined)s
            WHEN 'paid' THEN %(already_paid)s END,
        updated_at = now()
    FROM outcome WHERE payments.id = outcome.id AND payments.status = 'pending'
    RETURNING payments.*
), paid AS (
    UPDATE orders SET status = 'paid', updated_at = now() FROM p
    WHERE orders.id = p.order_id AND p.status = 'success' AND orders.status = 'created'
), ev (n, id, type) AS (
    SELECT 1, %(e1)s, CASE p.status WHEN 'success' THEN 'payment.success'
        ELSE 'payment.failed' END FROM p
), {
    _outbox(
        "EXISTS (SELECT 1 FROM merchants m, p WHERE m.id = p.merchant_id"
        " AND m.webhook_url IS NOT NULL AND m.webhook_format = 'classic')"
    )
}
SELECT current.razorpay, {_RETURNED} FROM current LEFT JOIN p ON true
"""


async def process(conn: db.Conn, payment_id: str, config: settings.Settings) -> Payment | None:
    """Move a pending payment to its outcome, in one statement (_PROCESS) for a classic
    merchant. Safe to run twice: a payment that is no longer pending is left alone and nothing
    is emitted."""
    params = {
        "id": payment_id,
        # The bank answers before the payment is read: one draw per method, used by its
        # method only, keeps it to one round trip.
        "upi": bank.approves("upi", config),
        "card": bank.approves("card", config),
        "failed_code": bank.DECLINED[0],
        "declined": bank.DECLINED[1],
        "already_paid": "Order already paid",
        "e1": ids.event(),
        "ts": int(time.time()),
        **_OUTBOX_PARAMS,
    }
    row = await db.fetch_one(conn, _PROCESS, {**params, "razorpay_ready": False})
    if row is None:
        return None
    if row["id"] is not None:
        return db.load(Payment, row)
    # A Razorpay-hooked merchant: the same statement (the same bank answer) and its Razorpay
    # events, committed together. The flag is read again: the merchant may have switched.
    async with conn.transaction():
        row = await db.fetch_one(conn, _PROCESS, {**params, "razorpay_ready": True})
        if row is None or row["id"] is None:
            return None  # processed meanwhile by another run of this job
        payment = db.load(Payment, row)
        if row["razorpay"]:
            await outbox.payment_processed(conn, payment)
        return payment
