"""The refund form on the payment page: partial refunds, the API's validation messages."""

from __future__ import annotations

import re

import httpx

from gateway import db, merchants, payments, settings
from tests.dashboard.conftest import page_csrf
from tests.helpers import new_payment


async def _paid(
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> str:
    auth = {"X-Api-Key": owner.api_key, "X-Api-Secret": owner.api_secret}
    p = await new_payment(client, auth, amount=50000)
    await payments.process(conn, p["id"], config)
    return str(p["id"])


async def test_partial_refund_from_the_payment_page(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    pay_id = await _paid(client, conn, owner, config)
    path = f"/dashboard/transactions/{pay_id}"
    token = await page_csrf(logged_in, path)
    r = await logged_in.post(
        path + "/refunds", data={"csrf_token": token, "amount": "120.50", "reason": "damaged"}
    )
    assert r.status_code == 303 and r.headers["location"] == path + "?notice=refund_created"
    page = (await logged_in.get(r.headers["location"])).text
    assert "Refund created." in page
    assert re.search(r'data-test-id="refund-amount"[^>]*>₹120.50<', page)
    assert 'data-test-id="refund-available">₹379.50<' in page
    rows = await db.fetch_all(
        conn, "SELECT amount, reason FROM refunds WHERE payment_id = %(p)s", {"p": pay_id}
    )
    assert rows == [{"amount": 12050, "reason": "damaged"}]


async def test_refund_over_the_available_amount_shows_the_api_message(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    pay_id = await _paid(client, conn, owner, config)
    path = f"/dashboard/transactions/{pay_id}"
    token = await page_csrf(logged_in, path)
    r = await logged_in.post(path + "/refunds", data={"csrf_token": token, "amount": "500.01"})
    assert r.status_code == 400
    assert "Refund amount exceeds available amount" in r.text
    bad = await logged_in.post(path + "/refunds", data={"csrf_token": token, "amount": "1.234"})
    assert bad.status_code == 400 and "at most two decimals" in bad.text
    count = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", {"p": pay_id}
    )
    assert count == {"n": 0}


async def test_refund_form_needs_the_csrf_token(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    pay_id = await _paid(client, conn, owner, config)
    r = await logged_in.post(f"/dashboard/transactions/{pay_id}/refunds", data={"amount": "10.00"})
    assert r.status_code == 403
    count = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", {"p": pay_id}
    )
    assert count == {"n": 0}
