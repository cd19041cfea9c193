"""Razorpay-format webhooks: the per-merchant switch, the events each state change writes in
its own transaction, Razorpay's envelope and headers, and the classic set left exactly as it
was for classic merchants."""

from __future__ import annotations

import json
from typing import Any

import httpx
import razorpay

from gateway import db, merchants, payments, refunds, settings
from gateway.webhooks import attempts
from tests.receiver import Receiver

HOOK = "http://127.0.0.1:9/hook"  # never called here: deliveries are read from the log table


async def _configure(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    r = await client.put("/api/v1/webhooks/config", json=body, headers=auth)
    assert r.status_code == 200, r.text
    config: dict[str, Any] = r.json()
    return config


async def _logs(conn: db.Conn, resource_id: str) -> list[db.Row]:
    return await db.fetch_all(
        conn,
        "SELECT l.id, l.event, l.format, l.payload, l.event_id, e.format AS event_format"
        " FROM webhook_logs l JOIN events e ON e.id = l.event_id"
        " WHERE l.resource_id = %(r)s ORDER BY l.created_at",
        {"r": resource_id},
    )


async def _payment(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    *,
    capture: bool | None = None,
    classic_order: bool = False,
) -> str:
    if classic_order:
        r = await client.post("/api/v1/orders", json={"amount": 50000}, headers=auth)
    else:
        body: dict[str, Any] = {"amount": 50000}
        if capture is not None:
            body["payment_capture"] = capture
        r = await client.post("/v1/orders", json=body, auth=basic)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": r.json()["id"], "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    assert r.status_code == 201
    payment_id: str = r.json()["id"]
    return payment_id


def _envelope(row: db.Row) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(row["payload"])
    return body


async def test_the_format_is_configured_per_merchant_and_kept_when_only_the_url_changes(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    initial = (await client.get("/api/v1/webhooks/config", headers=auth)).json()
    assert initial["format"] == "classic"
    assert initial["events"] == [
        "payment.created",
        "payment.pending",
        "payment.success",
        "payment.failed",
        "refund.created",
        "refund.processed",
    ]
    switched = await _configure(client, auth, {"url": HOOK, "format": "razorpay"})
    assert switched["format"] == "razorpay" and switched["url"] == HOOK
    assert "payment.captured" in switched["events"] and "order.paid" in switched["events"]
    kept = await _configure(client, auth, {"url": HOOK + "2"})
    assert kept["format"] == "razorpay"
    assert (await client.get("/api/v1/webhooks/config", headers=auth)).json() == kept
    r = await client.put(
        "/api/v1/webhooks/config", json={"url": HOOK, "format": "xml"}, headers=auth
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert (await _configure(client, auth, {"url": HOOK, "format": "classic"}))["format"] == (
        "classic"
    )


async def test_a_razorpay_merchant_receives_razorpays_events_in_razorpays_envelope(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    merchant: merchants.NewMerchant,
) -> None:
    await _configure(client, auth, {"url": HOOK, "format": "razorpay"})
    auto = await _payment(client, basic, auth)
    # No Razorpay counterpart to payment.created / payment.pending: nothing at creation.
    assert await _logs(conn, auto) == []
    processed = await payments.process(conn, auto, config)
    assert processed is not None and processed.captured
    logs = await _logs(conn, auto)
    assert [r["event"] for r in logs] == ["payment.authorized", "payment.captured", "order.paid"]
    assert {r["format"] for r in logs} == {r["event_format"] for r in logs} == {"razorpay"}
    authorized, captured, paid = (_envelope(r) for r in logs)
    for envelope, event in zip(
        (authorized, captured, paid),
        ("payment.authorized", "payment.captured", "order.paid"),
        strict=True,
    ):
        assert list(envelope) == [
            "entity",
            "account_id",
            "event",
            "contains",
            "payload",
            "created_at",
        ]
        assert envelope["entity"] == "event" and envelope["event"] == event
        assert envelope["account_id"] == "acc_" + merchant.id.hex
    # Snapshots at event time: the authorization shows the payment before its capture.
    assert authorized["contains"] == ["payment"]
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"
    assert captured["payload"]["payment"]["entity"]["status"] == "captured"
    assert paid["contains"] == ["payment", "order"]
    order = paid["payload"]["order"]["entity"]
    assert (order["status"], order["amount_paid"], order["attempts"]) == ("paid", 50000, 1)

    manual = await _payment(client, basic, auth, capture=False)
    await payments.process(conn, manual, config)
    assert [r["event"] for r in await _logs(conn, manual)] == ["payment.authorized"]
    r = await client.post(f"/v1/payments/{manual}/capture", json={"amount": 50000}, auth=basic)
    assert r.status_code == 200
    assert [r["event"] for r in await _logs(conn, manual)] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]

    declined = await _payment(client, basic, auth)
    await payments.process(
        conn, declined, config.model_copy(update={"test_payment_success": False})
    )
    (failed,) = await _logs(conn, declined)
    assert failed["event"] == "payment.failed"
    assert _envelope(failed)["payload"]["payment"]["entity"]["status"] == "failed"

    r = await client.post(f"/v1/payments/{auto}/refund", json={"amount": 700}, auth=basic)
    refund_id = r.json()["id"]
    await refunds.process(conn, refund_id)
    logs = await _logs(conn, refund_id)
    assert [r["event"] for r in logs] == ["refund.created", "refund.processed"]
    created, done = (_envelope(r) for r in logs)
    assert created["contains"] == ["refund", "payment"]
    assert created["payload"]["refund"]["entity"]["status"] == "pending"
    assert created["payload"]["payment"]["entity"]["amount_refunded"] == 700
    assert done["payload"]["refund"]["entity"]["status"] == "processed"
    # The classic events are still recorded (the audit trail), never delivered to it.
    classic = await db.fetch_all(
        conn,
        "SELECT e.type FROM events e LEFT JOIN webhook_logs l ON l.event_id = e.id"
        " WHERE e.resource_id = %(p)s AND e.format = 'classic' AND l.id IS NULL"
        " ORDER BY e.created_at",
        {"p": auto},
    )
    assert [r["type"] for r in classic] == ["payment.created", "payment.pending", "payment.success"]


async def test_a_classic_merchant_receives_exactly_the_classic_set(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    await _configure(client, auth, {"url": HOOK})
    manual = await _payment(client, basic, auth, capture=False)
    await payments.process(conn, manual, config)
    r = await client.post(f"/v1/payments/{manual}/capture", json={"amount": 50000}, auth=basic)
    assert r.status_code == 200
    logs = await _logs(conn, manual)
    assert [r["event"] for r in logs] == ["payment.created", "payment.pending", "payment.success"]
    assert {r["format"] for r in logs} == {"classic"}
    body = _envelope(logs[-1])
    assert list(body) == ["event", "timestamp", "data"]
    r = await client.post(f"/v1/payments/{manual}/refund", json={"amount": 700}, auth=basic)
    refund_id = r.json()["id"]
    await refunds.process(conn, refund_id)
    logs = await _logs(conn, refund_id)
    assert [r["event"] for r in logs] == ["refund.created", "refund.processed"]
    assert set(_envelope(logs[0])["data"]["refund"]) == {
        "id",
        "payment_id",
        "amount",
        "reason",
        "status",
        "created_at",
        "processed_at",
    }
    # No Razorpay event row was written for a classic merchant at all.
    none = await db.fetch_one(
        conn,
        "SELECT count(*) AS n FROM events WHERE resource_id = ANY(%(r)s) AND format = 'razorpay'",
        {"r": [manual, refund_id]},
    )
    assert none is not None and none["n"] == 0


async def test_a_razorpay_delivery_is_signed_for_razorpays_sdk_and_keeps_its_event_id(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    merchant: merchants.NewMerchant,
) -> None:
    with Receiver() as receiver:
        http = attempts.client()
        await _configure(client, auth, {"url": receiver.url + "/ok", "format": "razorpay"})
        test = await client.post("/api/v1/webhooks/test", headers=auth)
        assert test.status_code == 202
        payment_id = await _payment(client, basic, auth)
        await payments.process(conn, payment_id, config)
        (first, *_) = await _logs(conn, payment_id)
        # A switch back to classic after emission: the log keeps its format and headers.
        await _configure(client, auth, {"url": receiver.url + "/ok", "format": "classic"})
        async with http:
            for log_id in (test.json()["webhook_log_id"], first["id"]):
                claim = await attempts.claim(conn, log_id, 0, 0, config)
                assert isinstance(claim, attempts.Claim) and claim.format == "razorpay"
                outcome = await attempts.send(http, claim, allow_private=True)
                assert outcome.ok, outcome
                # A retry later sends the same bytes with the same event id.
                outcome = await attempts.send(http, claim, allow_private=True)
                assert outcome.ok
    sdk = razorpay.Client(auth=(merchant.api_key, merchant.api_secret))
    received = receiver.on("/ok")
    assert len(received) == 4
    for request in received:
        body = request.body.decode()
        assert sdk.utility.verify_webhook_signature(
            body, request.headers["x-razorpay-signature"], merchant.webhook_secret
        )
        assert request.headers["x-razorpay-event-id"] == request.headers["webhook-id"]
        assert request.headers["x-webhook-signature"] == request.headers["x-razorpay-signature"]
    test_body = json.loads(received[0].body)
    assert (test_body["event"], test_body["contains"], test_body["payload"]) == (
        "webhook.test",
        [],
        {},
    )
    assert received[2].body == received[3].body
    assert received[2].headers["x-razorpay-event-id"] == first["event_id"]
    assert json.loads(received[2].body)["event"] == "payment.authorized"
