"""PostgreSQL renders the webhook body of a payment event (db/migrations/0010) so that creating
and processing a payment are one statement each. Those bytes must be exactly the bytes
webhooks/signing.py renders from Payment.out() (themselves JavaScript's JSON.stringify)."""

from __future__ import annotations

import httpx

from gateway import db, payments, settings
from gateway.webhooks import signing
from tests.helpers import new_payment


async def _sql_body(conn: db.Conn, payment_id: str, event: str, ts: int) -> bytes:
    row = await db.fetch_one(
        conn,
        "SELECT gateway_payment_event(%(e)s, %(ts)s, p) AS body FROM payments p WHERE id = %(id)s",
        {"e": event, "ts": ts, "id": payment_id},
    )
    assert row is not None
    body: str = row["body"]
    return body.encode()


async def _python_body(conn: db.Conn, payment_id: str, event: str, ts: int) -> bytes:
    payment = await payments.get_public(conn, payment_id)
    return signing.payload_bytes(event, ts, {"payment": payment.out()})


async def test_every_shape_of_payment_renders_the_same_bytes_in_sql_and_python(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    upi = await new_payment(client, auth, method="upi")
    card = await new_payment(client, auth, method="card")
    declined = await new_payment(client, auth, method="card")
    await payments.process(conn, upi["id"], config)
    await payments.process(
        conn, declined["id"], config.model_copy(update={"test_payment_success": False})
    )
    await conn.execute(
        "UPDATE payments SET captured = true, amount_refunded = 1234 WHERE id = %(id)s",
        {"id": upi["id"]},
    )
    # Values no real payment holds today, to pin the escaping: quotes, backslashes, controls,
    # non-ASCII (JSON.stringify keeps it as UTF-8) and a NULL in a text column.
    await conn.execute(
        "UPDATE payments SET error_code = %(code)s, error_description = %(desc)s WHERE id = %(id)s",
        {"id": declined["id"], "code": 'Q"\\\b\f\n\r\t\x01\x1f\x7f', "desc": "déclin — ₹ 😀"},
    )
    for payment_id in (upi["id"], card["id"], declined["id"]):
        for event in ("payment.created", "payment.success", "payment.failed"):
            sql = await _sql_body(conn, payment_id, event, 1_705_315_870)
            assert sql == await _python_body(conn, payment_id, event, 1_705_315_870)


async def test_a_created_payments_stored_event_bodies_are_the_python_bytes(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    for method in ("upi", "card"):
        payment = await new_payment(client, auth, method=method)
        rows = await db.fetch_all(
            conn,
            "SELECT type, payload FROM events WHERE resource_id = %(id)s ORDER BY created_at",
            {"id": payment["id"]},
        )
        assert [r["type"] for r in rows] == ["payment.created", "payment.pending"]
        for row in rows:
            stored = row["payload"].encode()
            ts = int(stored.split(b'"timestamp":', 1)[1].split(b",", 1)[0])
            expected = signing.payload_bytes(row["type"], ts, {"payment": payment})
            assert stored == expected
