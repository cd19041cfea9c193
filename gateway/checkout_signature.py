"""The payment signature of Razorpay's Standard Checkout, which `new Razorpay(options)` in
checkout.js hands to the merchant's `handler` as `razorpay_signature`.

A merchant's server checks it with the official SDKs (`client.utility.verify_payment_signature`,
`validatePaymentVerification`): lowercase hex HMAC-SHA256 of `"{order_id}|{payment_id}"` keyed with
the merchant's API secret. It is what lets the merchant trust a success the customer's browser
reports, so it is computed here and only here: the secret never leaves the server, and the
browser merely carries the result from the hosted page to the merchant's page.

The hosted page learns it from the public payment view it already polls. Handing it out there is
safe because it only ever attests to something true (this payment of this order succeeded) and is
issued only to a page opened with the publishable key of the merchant who owns the payment; it
signs no message a caller chooses, so it cannot be turned into an oracle for the secret."""

from __future__ import annotations

import hashlib
import hmac
import logging

from gateway import db, merchants, payments, settings, vault

log = logging.getLogger("gateway.checkout")


def sign(api_secret: str, order_id: str, payment_id: str) -> str:
    """Razorpay's checkout signature (the official SDKs' `verify_payment_signature` recomputes
    exactly this)."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(api_secret.encode(), message, hashlib.sha256).hexdigest()


async def for_checkout(
    conn: db.Conn, config: settings.Settings, payment: payments.Payment, key: str | None
) -> str | None:
    """The signature the hosted page passes on, or None: only for a succeeded payment, and only
    when the page names the owning merchant's publishable `key` (a page opened without a key,
    the contract's direct link, is not a Razorpay checkout and gets none)."""
    if key is None or payment.status != "success":
        return None
    merchant = await merchants.get(conn, payment.merchant_id)
    # The caller already looked the payment up under this key; checked again here so that the
    # secret is never used for a page that names someone else's key, whoever calls this. (A
    # plain comparison: the publishable key is public, there is nothing to time.)
    if merchant is None or merchant.api_key != key:
        return None
    try:
        secret = merchants.reveal_api_secret(config, merchant)
    except vault.Unsealable as error:
        # The payer must still see their success; the merchant's verification then fails, which
        # is the honest answer while the secret cannot be read. Says where, never what.
        log.error("no checkout signature for %s: %s", payment.id, error)
        return None
    return sign(secret, payment.order_id, payment.id)
