"""Every POST/PUT endpoint fed malformed JSON, wrong types, huge strings, unicode and SQL-ish
text: always a 4xx with the contract's envelope, never a 5xx, never a stored row."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway import db
from tests.helpers import new_order, new_payment

HUGE = "x" * 200_000
FULLWIDTH_CARD = "".join(chr(0xFF10 + int(d)) for d in "4111111111111111")
BODIES: list[Any] = [
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"1e999",
    b'{"amount": NaN}',
    b"\xff\xfe not utf-8",
    {"amount": "1000"},
    {"amount": 1e20},
    {"amount": -5},
    {"amount": 2**70},
    {"amount": 1000, "receipt": HUGE},
    {"amount": 1000, "notes": {"k": "\u0000"}},
    {"amount": 1000, "receipt": "nul\u0000byte"},
    {"amount": 1000, "currency": "'; DROP TABLE orders; --"},
    {"order_id": "' OR 1=1 --", "method": "upi", "vpa": "a@b"},
    {"order_id": HUGE, "method": "upi", "vpa": "a@b"},
    # Full-width digits: isdigit() is true for them, the card rules must still say no.
    {"order_id": "ордер_😀", "method": "card", "card": {"number": FULLWIDTH_CARD}},
    {"order_id": None, "method": ["upi"], "vpa": {"x": 1}},
    {"order_id": "order_x\u0000", "method": "upi", "vpa": "a@b"},
    {"url": "http://" + "a" * 5000 + ".com"},
    {"url": 12},
    {"url": "http://exa mple.com/\u0000"},
    {"amount": {"$gt": 0}, "reason": HUGE},
]


def _content(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
async def targets(client: httpx.AsyncClient, auth: dict[str, str]) -> list[tuple[str, str]]:
    payment = await new_payment(client, auth)
    order_id = await new_order(client, auth)
    return [
        ("POST", "/api/v1/orders"),
        ("POST", "/api/v1/payments"),
        ("POST", "/api/v1/payments/public"),
        ("POST", f"/api/v1/payments/{payment['id']}/capture"),
        ("POST", f"/api/v1/payments/{payment['id']}/refunds"),
        ("PUT", "/api/v1/webhooks/config"),
        ("GET", f"/api/v1/orders/{order_id}%00"),
        ("GET", "/api/v1/orders?offset=99999999999999999999"),
        ("GET", "/api/v1/payments?limit=1e3"),
        ("GET", "/api/v1/webhooks?resource_id=" + "a" * 5000),
    ]


async def test_bad_input_is_always_a_4xx_envelope_and_stores_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    targets: list[tuple[str, str]],
    conn: db.Conn,
    merchant: Any,
) -> None:
    before = await db.fetch_one(
        conn,
        "SELECT (SELECT count(*) FROM orders WHERE merchant_id = %(m)s)"
        " + (SELECT count(*) FROM payments WHERE merchant_id = %(m)s) AS n",
        {"m": merchant.id},
    )
    failures = []
    for method, path in targets:
        bodies = BODIES if method != "GET" else [None]
        for body in bodies:
            r = await client.request(
                method,
                path,
                content=_content(body) if body is not None else None,
                headers={**auth, "Content-Type": "application/json"},
            )
            ok = 400 <= r.status_code < 500
            try:
                envelope = r.json()
                ok = (
                    ok
                    and set(envelope) == {"error"}
                    and envelope["error"]["code"]
                    and envelope["error"]["description"]
                )
            except ValueError:
                ok = False
            if not ok:
                failures.append((method, path[:60], repr(body)[:60], r.status_code, r.text[:120]))
    assert failures == []
    after = await db.fetch_one(
        conn,
        "SELECT (SELECT count(*) FROM orders WHERE merchant_id = %(m)s)"
        " + (SELECT count(*) FROM payments WHERE merchant_id = %(m)s) AS n",
        {"m": merchant.id},
    )
    assert before == after
