"""The Razorpay-format webhooks a state change causes, written in its transaction through
events.emit_razorpay (which records nothing unless the merchant is Razorpay-hooked). Callers
invoke these only when their own statement said the merchant is, so a classic merchant pays
nothing for them.

Payloads are snapshots at event time, as Razorpay's are: the payment.authorized of an
auto-captured payment still shows it authorized."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gateway import events, orders
from gateway.razorpay import entities

if TYPE_CHECKING:  # annotations only: payments and refunds import this module at run time
    from gateway import db, payments, refunds


async def _captured_events(
    conn: db.Conn, payment: payments.Payment
) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    entity = entities.payment(payment)
    order = await orders.progress(conn, payment.merchant_id, payment.order_id)
    return [
        ("payment.captured", {"payment": entity}),
        ("order.paid", {"payment": entity, "order": entities.order(order)}),
    ]


async def payment_processed(conn: db.Conn, payment: payments.Payment) -> None:
    """payment.failed, or payment.authorized (then payment.captured and order.paid when the
    order captures at once)."""
    if payment.status == "failed":
        items = [("payment.failed", {"payment": entities.payment(payment)})]
    else:
        authorized = dataclasses.replace(payment, captured=False)
        items = [("payment.authorized", {"payment": entities.payment(authorized)})]
        if payment.captured:
            items += await _captured_events(conn, payment)
    await events.emit_razorpay(conn, payment.merchant_id, payment.id, items)


async def payment_captured(conn: db.Conn, payment: payments.Payment) -> None:
    await events.emit_razorpay(
        conn, payment.merchant_id, payment.id, await _captured_events(conn, payment)
    )


async def refund_event(
    conn: db.Conn, event: str, refund: refunds.Refund, payment: payments.Payment
) -> None:
    """refund.created / refund.processed: the refund and its payment as they are now."""
    await events.emit_razorpay(
        conn,
        refund.merchant_id,
        refund.id,
        [(event, {"refund": entities.refund(refund), "payment": entities.payment(payment)})],
    )
