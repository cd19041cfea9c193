"""Attacks on money and on the unauthenticated checkout surface (issue 11): capture after a
partial refund, the public payment view, a deactivated merchant's checkout, and a checkout bound
to the merchant's key and allowed origins."""

from __future__ import annotations

from typing import Any

import httpx

from gateway import db, settings
from tests.conftest import assert_error
from tests.helpers import successful_payment

NOT_CAPTURABLE = "Payment not in capturable state"
CHECKOUT_CONFIG = "/api/v1/checkout/config"
PUBLIC_PAYMENT_FIELDS = {
    "id", "order_id", "status", "amount", "currency", "method", "error_code",
    "error_description", "created_at", "updated_at",
}  # fmt: skip


async def _payment(client: httpx.AsyncClient, auth: dict[str, str], pid: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/payments/{pid}", headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _payment_count(conn: db.Conn, order_id: str) -> int:
    row = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM payments WHERE order_id = %(o)s", {"o": order_id}
    )
    assert row is not None
    return int(row["n"])


# ---- 1. money: no capture after a refund ----


async def test_capture_after_a_partial_refund_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=10_000)
    r = await client.post(
        f"/api/v1/payments/{p['id']}/refunds", json={"amount": 8_000}, headers=auth
    )
    assert r.status_code == 201, r.text
    before = await _payment(client, auth, p["id"])
    assert before["captured"] is False and before["amount_refunded"] == 8_000

    for body in (None, {"amount": 10_000}):
        attempt = await client.post(f"/api/v1/payments/{p['id']}/capture", json=body, headers=auth)
        error = assert_error(attempt, 400, "BAD_REQUEST_ERROR")
        assert error["error"]["description"] == NOT_CAPTURABLE
    assert await _payment(client, auth, p["id"]) == before


async def test_refunds_of_success_payments_still_work_captured_or_not(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    # The classic contract refunds `success` payments whether captured or not; its checkers
    # refund uncaptured ones. Only capture-after-refund is closed.
    uncaptured = await successful_payment(client, auth, conn, config, amount=10_000)
    r = await client.post(
        f"/api/v1/payments/{uncaptured['id']}/refunds", json={"amount": 10_000}, headers=auth
    )
    assert r.status_code == 201, r.text
    captured = await successful_payment(client, auth, conn, config, amount=10_000)
    r = await client.post(f"/api/v1/payments/{captured['id']}/capture", headers=auth)
    assert r.status_code == 200 and r.json()["captured"] is True
    r = await client.post(
        f"/api/v1/payments/{captured['id']}/refunds", json={"amount": 2_000}, headers=auth
    )
    assert r.status_code == 201, r.text
