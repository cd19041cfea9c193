"""Our payments, orders and refunds as Razorpay's entities (what its SDKs return and its
webhooks carry). Pure functions of the domain dataclasses: no query, no clock.

Statuses are derived from ours, never stored twice:
- payment: pending → `created`; failed → `failed`; success → `authorized` until captured, then
  `captured`, and `refunded` once refunds cover the whole amount (a partial refund leaves it
  `captured`, with `refund_status: "partial"`);
- order: `created` until a payment is made, `attempted` once one was, `paid` once one is
  captured (and it stays `paid` when refunded);
- refund: `pending` | `processed` (ours never fail, so `failed` is never shown).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: payments and refunds import this module at run time
    from gateway import orders, payments, refunds

# Razorpay's spelling of the card networks we recognise.
NETWORKS = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "American Express",
    "rupay": "RuPay",
    "unknown": "Unknown",
}


def unix(moment: Any) -> int:
    return int(moment.timestamp())


def account_id(merchant_id: uuid.UUID) -> str:
    """The webhook envelope's account_id: stable per merchant, in Razorpay's acc_ form."""
    return "acc_" + merchant_id.hex


def payment_status(payment: payments.Payment) -> str:
    if payment.status == "pending":
        return "created"
    if payment.status == "failed":
        return "failed"
    if payment.amount_refunded >= payment.amount:
        return "refunded"
    return "captured" if payment.captured else "authorized"


def refund_status(payment: payments.Payment) -> str | None:
    if payment.amount_refunded == 0:
        return None
    return "full" if payment.amount_refunded >= payment.amount else "partial"


def _card(payment: payments.Payment) -> dict[str, Any] | None:
    if payment.method != "card":
        return None
    # Only the network and the last four digits are ever stored: the rest stays null rather
    # than invented.
    return {
        "id": None,
        "entity": "card",
        "name": None,
        "last4": payment.card_last4,
        "network": NETWORKS.get(payment.card_network or "unknown", "Unknown"),
        "type": None,
        "issuer": None,
        "international": False,
        "emi": False,
        "sub_type": None,
    }


def _error(payment: payments.Payment) -> dict[str, Any]:
    if payment.error_code is None:
        return {
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
        }
    # A decline is the bank's answer to the authorization; our own code, lower-cased, is the
    # reason (PAYMENT_FAILED → payment_failed, which is also a reason Razorpay uses).
    return {
        "error_code": "BAD_REQUEST_ERROR",
        "error_description": payment.error_description,
        "error_source": "bank",
        "error_step": "payment_authorization",
        "error_reason": payment.error_code.lower(),
    }


def payment(payment: payments.Payment) -> dict[str, Any]:
    captured = payment.status == "success" and payment.captured
    return {
        "id": payment.id,
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment_status(payment),
        "order_id": payment.order_id,
        "invoice_id": None,
        "international": False,
        "method": payment.method,
        "amount_refunded": payment.amount_refunded,
        "refund_status": refund_status(payment),
        "captured": captured,
        "description": None,
        "card_id": None,
        "card": _card(payment),
        "bank": None,
        "wallet": None,
        "vpa": payment.vpa,
        "email": None,
        "contact": None,
        "notes": payment.notes or {},
        # We take no fee; Razorpay reports its fee once a payment is captured.
        "fee": 0 if captured else None,
        "tax": 0 if captured else None,
        **_error(payment),
        "acquirer_data": {},
        "created_at": unix(payment.created_at),
    }


def order(order: orders.Progress) -> dict[str, Any]:
    if order.amount_paid > 0:
        status = "paid"
    elif order.attempts > 0:
        status = "attempted"
    else:
        status = "created"
    return {
        "id": order.id,
        "entity": "order",
        "amount": order.amount,
        "amount_paid": order.amount_paid,
        "amount_due": order.amount - order.amount_paid,
        "currency": order.currency,
        "receipt": order.receipt,
        "offer_id": None,
        "status": status,
        "attempts": order.attempts,
        "notes": order.notes,
        "created_at": unix(order.created_at),
    }


def refund(refund: refunds.Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "entity": "refund",
        "amount": refund.amount,
        # The only currency a payment (and so a refund) can have: a CHECK on payments.
        "currency": "INR",
        "payment_id": refund.payment_id,
        "notes": refund.notes,
        "receipt": refund.receipt,
        "acquirer_data": {"arn": None},
        "created_at": unix(refund.created_at),
        "batch_id": None,
        "status": refund.status,
        "speed_processed": "normal",
        "speed_requested": refund.speed_requested,
    }


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}
