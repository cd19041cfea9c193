"""/v1 capture and refunds: Razorpay's rules over the classic rows."""

from __future__ import annotations

from typing import Any

import httpx

from gateway import db, payments, refunds, settings
from tests.razorpay.conftest import assert_razorpay_error


async def _paid(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    *,
    capture: bool,
    amount: int = 50000,
) -> tuple[dict[str, Any], str]:
    """An order made through /v1 and a payment on it processed to success: (order, pay id)."""
    r = await client.post(
        "/v1/orders", json={"amount": amount, "payment_capture": capture}, auth=basic
    )
    order: dict[str, Any] = r.json()
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": order["id"], "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    processed = await payments.process(conn, r.json()["id"], config)
    assert processed is not None and processed.status == "success"
    return order, processed.id


async def test_manual_capture_moves_authorized_to_captured_and_pays_the_order(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    order, payment_id = await _paid(client, basic, auth, conn, config, capture=False)
    assert (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()[
        "status"
    ] == "authorized"
    before = (await client.get(f"/v1/orders/{order['id']}", auth=basic)).json()
    assert (before["status"], before["amount_paid"]) == ("attempted", 0)
    for body, field in (({"amount": 100}, "amount"), ({"currency": "INR"}, "amount")):
        r = await client.post(f"/v1/payments/{payment_id}/capture", json=body, auth=basic)
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == field
    r = await client.post(
        f"/v1/payments/{payment_id}/capture", json={"amount": 50000, "currency": "USD"}, auth=basic
    )
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")
    r = await client.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "50000", "currency": "INR"},
        auth=basic,
    )
    assert r.status_code == 200, r.text
    captured = r.json()
    assert (captured["status"], captured["captured"], captured["fee"]) == ("captured", True, 0)
    after = (await client.get(f"/v1/orders/{order['id']}", auth=basic)).json()
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 50000, 0)
    again = await client.post(
        f"/v1/payments/{payment_id}/capture", json={"amount": 50000}, auth=basic
    )
    assert_razorpay_error(again, 400, "BAD_REQUEST_ERROR", "This payment has already been captured")


async def test_auto_capture_orders_capture_when_the_payment_succeeds(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    order, payment_id = await _paid(client, basic, auth, conn, config, capture=True)
    payment = (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()
    assert payment["status"] == "captured" and payment["captured"] is True
    assert (await client.get(f"/v1/orders/{order['id']}", auth=basic)).json()["status"] == "paid"
    # The classic view of the same row: a success, captured.
    classic = (await client.get(f"/api/v1/payments/{payment_id}", headers=auth)).json()
    assert (classic["status"], classic["captured"]) == ("success", True)


async def test_a_capture_before_success_is_refused(
    client: httpx.AsyncClient, basic: httpx.BasicAuth, auth: dict[str, str]
) -> None:
    r = await client.post("/v1/orders", json={"amount": 1000}, auth=basic)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": r.json()["id"], "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    r = await client.post(
        f"/v1/payments/{r.json()['id']}/capture", json={"amount": 1000}, auth=basic
    )
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")
    assert "authorized" in r.json()["error"]["description"]


async def test_partial_then_rest_refunds_with_razorpays_fields(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    _, payment_id = await _paid(client, basic, auth, conn, config, capture=True)
    r = await client.post(
        f"/v1/payments/{payment_id}/refund",
        json={"amount": "10000", "speed": "optimum", "notes": {"why": "size"}, "receipt": "rf1"},
        auth=basic,
    )
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["entity"] == "refund" and first["id"].startswith("rfnd_")
    assert (first["amount"], first["currency"], first["payment_id"]) == (10000, "INR", payment_id)
    assert (first["notes"], first["receipt"], first["status"]) == (
        {"why": "size"},
        "rf1",
        "pending",
    )
    assert (first["speed_requested"], first["speed_processed"]) == ("optimum", "normal")
    partial = (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()
    assert (partial["status"], partial["refund_status"], partial["amount_refunded"]) == (
        "captured",
        "partial",
        10000,
    )
    # The Python SDK's payment.refund(id, 2000) sends a bare integer body: it is the amount.
    r = await client.post(f"/v1/payments/{payment_id}/refund", content=b"2000", auth=basic)
    assert r.status_code == 200 and r.json()["amount"] == 2000
    # No amount: whatever is left.
    r = await client.post(f"/v1/payments/{payment_id}/refund", json={}, auth=basic)
    assert r.status_code == 200 and r.json()["amount"] == 50000 - 12000
    full = (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()
    assert (full["status"], full["refund_status"]) == ("refunded", "full")
    r = await client.post(f"/v1/payments/{payment_id}/refund", json={}, auth=basic)
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")
    r = await client.post(f"/v1/payments/{payment_id}/refund", json={"amount": 1}, auth=basic)
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR", "Refund amount exceeds available amount")
    listed = (await client.get(f"/v1/payments/{payment_id}/refunds", auth=basic)).json()
    assert listed["entity"] == "collection" and [i["amount"] for i in listed["items"]] == [
        38000,
        2000,
        10000,
    ]
    one = await client.get(f"/v1/payments/{payment_id}/refunds/{first['id']}", auth=basic)
    assert one.json() == first
    assert (await client.get(f"/v1/refunds/{first['id']}", auth=basic)).json() == first
    paged = (await client.get("/v1/refunds?count=1&skip=2", auth=basic)).json()
    assert [i["id"] for i in paged["items"]] == [first["id"]]
    processed = await refunds.process(conn, first["id"])
    assert processed is not None
    assert (await client.get(f"/v1/refunds/{first['id']}", auth=basic)).json()[
        "status"
    ] == "processed"


async def test_refunds_create_takes_the_payment_id_in_the_body(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    _, payment_id = await _paid(client, basic, auth, conn, config, capture=True)
    r = await client.post("/v1/refunds", json={"payment_id": payment_id, "amount": 100}, auth=basic)
    assert r.status_code == 200 and r.json()["payment_id"] == payment_id
    r = await client.post("/v1/refunds", json={"amount": 100}, auth=basic)
    assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == "payment_id"
    for body, field in (({"amount": "1.5"}, "amount"), ({"speed": "instant"}, "speed")):
        r = await client.post(f"/v1/payments/{payment_id}/refund", json=body, auth=basic)
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == field
    # A refund of another payment is not this payment's.
    r = await client.get(f"/v1/payments/{payment_id}/refunds", auth=basic)
    refund_id = r.json()["items"][0]["id"]
    _, other_id = await _paid(client, basic, auth, conn, config, capture=True)
    r = await client.get(f"/v1/payments/{other_id}/refunds/{refund_id}", auth=basic)
    assert_razorpay_error(r, 400, "NOT_FOUND_ERROR", "The id provided does not exist")


async def test_x_refund_idempotency_replays_and_refuses_a_different_body(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    _, payment_id = await _paid(client, basic, auth, conn, config, capture=True)
    headers = {"X-Refund-Idempotency": "refund-key-0001"}
    url = f"/v1/payments/{payment_id}/refund"
    first = await client.post(url, json={"amount": 500}, auth=basic, headers=headers)
    again = await client.post(url, json={"amount": 500}, auth=basic, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    count = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", {"p": payment_id}
    )
    assert count is not None and count["n"] == 1
    different = await client.post(url, json={"amount": 600}, auth=basic, headers=headers)
    assert_razorpay_error(different, 400, "IDEMPOTENCY_KEY_MISMATCH")
    # The same string as a classic Idempotency-Key is another key altogether.
    r = await client.post(
        "/api/v1/orders",
        json={"amount": 1000},
        headers={**auth, "Idempotency-Key": "refund-key-0001"},
    )
    assert r.status_code == 201


async def test_notes_only_patches(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    order, payment_id = await _paid(client, basic, auth, conn, config, capture=True)
    refund = (
        await client.post(f"/v1/payments/{payment_id}/refund", json={"amount": 100}, auth=basic)
    ).json()
    for path in (
        f"/v1/orders/{order['id']}",
        f"/v1/payments/{payment_id}",
        f"/v1/refunds/{refund['id']}",
    ):
        r = await client.patch(path, json={"notes": {"a": "b"}, "amount": 1}, auth=basic)
        assert r.status_code == 200, r.text
        assert r.json()["notes"] == {"a": "b"}
        assert (await client.get(path, auth=basic)).json()["notes"] == {"a": "b"}
        r = await client.patch(path, json={"amount": 1}, auth=basic)
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == "notes"
    assert (await client.get(f"/v1/orders/{order['id']}", auth=basic)).json()["amount"] == 50000
