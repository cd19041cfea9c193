"""The signature `new Razorpay(options)` hands to `handler` (issue 13): computed by the gateway with
the merchant's API secret, given out by the public payment view only for a succeeded payment
polled with the owning merchant's publishable key, and accepted by the official Razorpay SDK."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import razorpay

from gateway import checkout_signature, db, merchants, payments, settings
from tests.conftest import assert_error
from tests.helpers import new_order

SIGNATURE = "razorpay_signature"


async def _pay_publicly(client: httpx.AsyncClient, order_id: str, key: str | None) -> str:
    """A payment made as the hosted page makes it (POST /payments/public, with the SDK's key)."""
    params = {"key": key} if key else {}
    body = {"order_id": order_id, "method": "upi", "vpa": "asha@okbank"}
    r = await client.post("/api/v1/payments/public", params=params, json=body)
    assert r.status_code == 201, r.text
    payment_id: str = r.json()["id"]
    return payment_id


async def _view(
    client: httpx.AsyncClient, payment_id: str, key: str | None
) -> tuple[httpx.Response, dict[str, Any]]:
    params = {"key": key} if key is not None else {}
    r = await client.get(f"/api/v1/payments/{payment_id}/public", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return r, body


def _sdk_verifies(key: str, secret: str, order_id: str, payment_id: str, signature: str) -> bool:
    """The official Python SDK's check, exactly as a merchant's server calls it."""
    client = razorpay.Client(auth=(key, secret))
    try:
        client.utility.verify_payment_signature(
            {
                "razorpay_order_id": order_id,
                "razorpay_payment_id": payment_id,
                "razorpay_signature": signature,
            }
        )
    except razorpay.errors.SignatureVerificationError:
        return False
    return True


def test_signature_is_razorpays_published_test_vectors() -> None:
    # razorpay-python's tests/test_client_utility.py and razorpay-node's razorpay-utils.spec.js.
    assert checkout_signature.sign("key_secret", "fake_order_id", "fake_payment_id") == (
        "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"
    )
    assert checkout_signature.sign(
        "EnLs21M47BllR3X8PSFtjtbd", "order_IEIaMR65cu6nz3", "pay_IH4NVgf4Dreq1l"
    ) == ("0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f")


async def test_succeeded_payment_polled_with_the_merchants_key_carries_the_sdks_signature(
    client: httpx.AsyncClient,
    merchant: merchants.NewMerchant,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    key, secret = merchant.api_key, merchant.api_secret
    order_id = await new_order(client, auth)
    payment_id = await _pay_publicly(client, order_id, key)

    # Pending: nothing to attest yet.
    _, pending = await _view(client, payment_id, key)
    assert pending["status"] == "pending" and SIGNATURE not in pending

    processed = await payments.process(conn, payment_id, config)
    assert processed is not None and processed.status == "success"
    r, view = await _view(client, payment_id, key)
    assert view["status"] == "success"
    signature = view[SIGNATURE]
    assert _sdk_verifies(key, secret, order_id, payment_id, signature)
    # It binds this order to this payment under this merchant's secret, nothing else.
    assert not _sdk_verifies(key, secret, "order_0000000000000000", payment_id, signature)
    assert not _sdk_verifies(key, "secret_test_" + "x" * 32, order_id, payment_id, signature)
    # The secret itself never leaves the server.
    assert secret not in r.text
    # The same answer on every poll (the page may read it more than once).
    assert (await _view(client, payment_id, key))[1][SIGNATURE] == signature


async def test_no_signature_without_the_key_for_a_failed_payment_or_for_another_key(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    key = auth["X-Api-Key"]
    # Paid through the contract's direct link (no key): a success, but not a Razorpay checkout.
    order_id = await new_order(client, auth)
    keyless = await _pay_publicly(client, order_id, None)
    assert (await payments.process(conn, keyless, config)) is not None
    _, view = await _view(client, keyless, None)
    assert view["status"] == "success" and SIGNATURE not in view
    # The same success polled with the merchant's key does carry it (the key is what asks).
    assert SIGNATURE in (await _view(client, keyless, key))[1]
    # ...and with another merchant's key the payment is not found at all.
    r = await client.get(
        f"/api/v1/payments/{keyless}/public", params={"key": other_auth["X-Api-Key"]}
    )
    assert_error(r, 404, "NOT_FOUND_ERROR")
    assert SIGNATURE not in r.text

    # Declined: the key is right, but there is no success to sign.
    declined_order = await new_order(client, auth)
    declined = await _pay_publicly(client, declined_order, key)
    failing = config.model_copy(update={"test_payment_success": False})
    processed = await payments.process(conn, declined, failing)
    assert processed is not None and processed.status == "failed"
    _, view = await _view(client, declined, key)
    assert view["status"] == "failed" and SIGNATURE not in view


async def test_an_unreadable_secret_still_shows_the_payer_their_success(
    client: httpx.AsyncClient,
    merchant: merchants.NewMerchant,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order_id = await new_order(client, auth)
    payment_id = await _pay_publicly(client, order_id, merchant.api_key)
    assert (await payments.process(conn, payment_id, config)) is not None
    # A ciphertext that does not open under this server key (moved from another row, say).
    await conn.execute(
        "UPDATE merchants SET api_secret_sealed = %(junk)s WHERE id = %(id)s",
        {"junk": b"\x01" + bytes(40), "id": merchant.id},
    )
    _, view = await _view(client, payment_id, merchant.api_key)
    assert view["status"] == "success" and SIGNATURE not in view
    assert "no checkout signature" in caplog.text


async def test_the_public_view_documents_the_signature_as_optional(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    schema = document["components"]["schemas"]["PaymentPublicOut"]
    assert SIGNATURE in schema["properties"] and SIGNATURE not in schema["required"]
    described = schema["properties"][SIGNATURE]
    assert "HMAC-SHA256" in described["description"]
    assert {"type": "string", "pattern": "^[0-9a-f]{64}$"} in described["anyOf"]
