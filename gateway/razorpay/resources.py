"""The operations behind /v1: the classic domain functions and rows, read and written with
Razorpay's rules (what it accepts, which payment may be captured or refunded, how lists page).
Each returns our dataclasses; entities.py shapes them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from gateway import db, errors, ids, orders, payments, refunds, settings
from gateway.razorpay import inputs

T = TypeVar("T", orders.Progress, payments.Payment, refunds.Refund)

MIN_ORDER_AMOUNT = 100  # the orders table's CHECK: ₹1.00
SPEEDS = refunds.SPEEDS


async def _window(
    conn: db.Conn,
    cls: type[T],
    select: str,
    alias: str,
    conditions: list[str],
    params: dict[str, Any],
    window: inputs.Window,
) -> list[T]:
    """The rows `select` finds under `conditions`, newest first, paged by `window`. `select`,
    `alias` and the conditions are our own SQL; every value is a parameter."""
    where = list(conditions)
    if window.since is not None:
        where.append(f"{alias}.created_at >= to_timestamp(%(since)s)")
    if window.until is not None:
        # `to` names a whole second: everything created during it is included.
        where.append(f"{alias}.created_at < to_timestamp(%(until)s + 1)")
    return await db.many(
        conn,
        cls,
        f"{select} WHERE {' AND '.join(where)}"
        f" ORDER BY {alias}.created_at DESC, {alias}.id DESC LIMIT %(count)s OFFSET %(skip)s",
        {
            **params,
            "since": window.since,
            "until": window.until,
            "count": window.count,
            "skip": window.skip,
        },
    )


# Orders


async def create_order(conn: db.Conn, merchant_id: uuid.UUID, body: Any) -> orders.Progress:
    """Razorpay's order create: `payment_capture` absent means capture at once, Razorpay's
    default; partial payments are not offered, so only a false `partial_payment` is taken."""
    fields = inputs.body_object(body)
    if "amount" not in fields:
        raise inputs.Invalid("The amount field is required.", "amount")
    amount = inputs.amount(fields["amount"], minimum=MIN_ORDER_AMOUNT)
    currency = inputs.currency(fields.get("currency"))
    receipt = inputs.text(fields.get("receipt"), "receipt", inputs.MAX_RECEIPT)
    notes = inputs.notes(fields.get("notes"))
    capture = fields.get("payment_capture")
    payment_capture = True if capture is None else inputs.flag(capture, "payment_capture")
    partial = fields.get("partial_payment")
    if partial is not None and inputs.flag(partial, "partial_payment"):
        raise inputs.Invalid("Partial payments are not supported", "partial_payment")
    order = await orders.create(
        conn,
        merchant_id,
        amount=amount,
        currency=currency,
        receipt=receipt,
        notes=notes,
        payment_capture=payment_capture,
    )
    return orders.Progress(**vars(order), attempts=0, amount_paid=0)


async def get_order(conn: db.Conn, merchant_id: uuid.UUID, order_id: str) -> orders.Progress:
    return await orders.progress(conn, merchant_id, order_id)


async def list_orders(
    conn: db.Conn, merchant_id: uuid.UUID, query: Mapping[str, str]
) -> list[orders.Progress]:
    conditions = ["o.merchant_id = %(m)s"]
    receipt = query.get("receipt")
    if receipt is not None:
        conditions.append("o.receipt = %(receipt)s")
    return await _window(
        conn,
        orders.Progress,
        f"SELECT {orders.PROGRESS_COLUMNS} FROM orders o {orders.PROGRESS_JOIN}",
        "o",
        conditions,
        {"m": merchant_id, "receipt": receipt},
        inputs.window(query),
    )


async def order_payments(
    conn: db.Conn, merchant_id: uuid.UUID, order_id: str, query: Mapping[str, str]
) -> list[payments.Payment]:
    """The order's payments, newest first: up to 100 unless count/skip say otherwise (Razorpay
    answers them all, and an order rarely has more than a few attempts)."""
    order = await orders.get(conn, merchant_id, order_id)
    return await _window(
        conn,
        payments.Payment,
        f"SELECT {db.columns(payments.Payment, 'p')} FROM payments p",
        "p",
        ["p.merchant_id = %(m)s", "p.order_id = %(o)s"],
        {"m": merchant_id, "o": order.id},
        inputs.window(query, default_count=inputs.MAX_COUNT),
    )


async def edit_order(
    conn: db.Conn, merchant_id: uuid.UUID, order_id: str, body: Any
) -> orders.Progress:
    notes = _notes_only(body)
    await db.get(
        conn,
        orders.Order,
        "UPDATE orders SET notes = %(notes)s, updated_at = now()"
        f" WHERE id = %(id)s AND merchant_id = %(m)s RETURNING {orders.COLUMNS}",
        {
            "id": ids.require("order", order_id, orders.NOT_FOUND),
            "m": merchant_id,
            "notes": db.jsonb(notes),
        },
        missing=orders.NOT_FOUND,
    )
    return await orders.progress(conn, merchant_id, order_id)


def _notes_only(body: Any) -> dict[str, Any]:
    """Razorpay's PATCH of an order, payment or refund changes its notes and nothing else."""
    fields = inputs.body_object(body)
    if "notes" not in fields:
        raise inputs.Invalid("The notes field is required.", "notes")
    return inputs.notes(fields["notes"])


# Payments


async def get_payment(conn: db.Conn, merchant_id: uuid.UUID, payment_id: str) -> payments.Payment:
    return await payments.get(conn, merchant_id, payment_id)


async def list_payments(
    conn: db.Conn, merchant_id: uuid.UUID, query: Mapping[str, str]
) -> list[payments.Payment]:
    return await _window(
        conn,
        payments.Payment,
        f"SELECT {db.columns(payments.Payment, 'p')} FROM payments p",
        "p",
        ["p.merchant_id = %(m)s"],
        {"m": merchant_id},
        inputs.window(query),
    )


async def capture_payment(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, body: Any
) -> payments.Payment:
    """Razorpay's capture: `amount` (required, the authorized amount) and optionally
    `currency`, of an authorized payment. The refusals are worded as Razorpay words them; the
    guarded update in payments.capture still decides a race."""
    fields = inputs.body_object(body)
    payment = await payments.get(conn, merchant_id, payment_id)
    if "amount" not in fields:
        raise inputs.Invalid("The amount field is required.", "amount")
    amount = inputs.amount(fields["amount"])
    if fields.get("currency") is not None and fields["currency"] != payment.currency:
        raise inputs.Invalid("Currency should be same as payment currency", "currency")
    if payment.status == "success" and payment.captured:
        raise errors.BadRequest("This payment has already been captured")
    if payment.status != "success":
        raise errors.BadRequest(
            "Only payments which have been authorized and not yet captured can be captured"
        )
    if amount != payment.amount:
        raise inputs.Invalid("Capture amount must be equal to the amount authorized", "amount")
    return await payments.capture(conn, merchant_id, payment.id, amount)


async def edit_payment(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, body: Any
) -> payments.Payment:
    return await payments.set_notes(conn, merchant_id, payment_id, _notes_only(body))


# Refunds


async def create_refund(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    payment_id: str | None,
    body: Any,
    config: settings.Settings,
) -> refunds.Refund:
    """Razorpay's refund of a captured payment: `amount` optional (the rest of the payment),
    `speed`, `notes`, `receipt`. `payment_id` comes from the path, or from the body for
    POST /v1/refunds. A bare integer body is the amount: the Python SDK's
    `payment.refund(id, 2000)`, still in its own tests, sends exactly `2000`."""
    if isinstance(body, int | str) and not isinstance(body, bool):
        body = {"amount": body}
    fields = inputs.body_object(body)
    if payment_id is None:
        payment_id = fields.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise inputs.Invalid("The payment id field is required.", "payment_id")
    amount = None if fields.get("amount") is None else inputs.amount(fields["amount"])
    speed = fields.get("speed") or "normal"
    if speed not in SPEEDS:
        raise inputs.Invalid(f"The speed must be one of: {', '.join(SPEEDS)}", "speed")
    return await refunds.create(
        conn,
        merchant_id,
        payment_id,
        amount=amount,
        reason=None,
        config=config,
        notes=inputs.notes(fields.get("notes")),
        receipt=inputs.text(fields.get("receipt"), "receipt", inputs.MAX_RECEIPT),
        speed=speed,
        captured_only=True,
    )


async def get_refund(
    conn: db.Conn, merchant_id: uuid.UUID, refund_id: str, payment_id: str | None = None
) -> refunds.Refund:
    """A refund, or with `payment_id` one of that payment's refunds only."""
    refund = await refunds.get(conn, merchant_id, refund_id)
    if payment_id is not None and refund.payment_id != payment_id:
        raise errors.NotFound("Refund not found")
    return refund


async def list_refunds(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    query: Mapping[str, str],
    payment_id: str | None = None,
) -> list[refunds.Refund]:
    """The merchant's refunds, or one payment's (which must exist)."""
    conditions = ["r.merchant_id = %(m)s"]
    if payment_id is not None:
        payment_id = (await payments.get(conn, merchant_id, payment_id)).id
        conditions.append("r.payment_id = %(p)s")
    return await _window(
        conn,
        refunds.Refund,
        f"SELECT {db.columns(refunds.Refund, 'r')} FROM refunds r",
        "r",
        conditions,
        {"m": merchant_id, "p": payment_id},
        inputs.window(query),
    )


async def edit_refund(
    conn: db.Conn, merchant_id: uuid.UUID, refund_id: str, body: Any
) -> refunds.Refund:
    return await refunds.set_notes(conn, merchant_id, refund_id, _notes_only(body))
