"""The checkout-origins setting on /dashboard/docs: the same rule as PUT /api/v1/checkout/config."""

from __future__ import annotations

import html
import re

import httpx

from gateway import db, merchants
from tests.dashboard.conftest import page_csrf

URL = "/dashboard/docs/checkout-origins"


def _textarea(page: str) -> str:
    match = re.search(r'data-test-id="checkout-origins-input"[^>]*>([^<]*)</textarea>', page)
    assert match, "no checkout-origins-input on the page"
    return html.unescape(match.group(1))


async def test_merchant_saves_and_clears_allowed_checkout_origins(
    logged_in: httpx.AsyncClient, conn: db.Conn, owner: merchants.Merchant
) -> None:
    token = await page_csrf(logged_in, "/dashboard/docs")
    origins = "HTTPS://Shop.Example/\nhttp://localhost:8080, https://shop.example"
    r = await logged_in.post(URL, data={"csrf_token": token, "origins": origins})
    assert r.status_code == 303, r.text
    saved = await merchants.checkout_config(conn, owner.id)
    assert saved.allowed_origins == ["https://shop.example", "http://localhost:8080"]
    page = (await logged_in.get(r.headers["location"])).text
    assert "Allowed websites saved." in page
    assert _textarea(page) == "https://shop.example\nhttp://localhost:8080"

    r = await logged_in.post(URL, data={"csrf_token": token, "origins": ""})
    assert r.status_code == 303
    assert (await merchants.checkout_config(conn, owner.id)).allowed_origins == []


async def test_a_bad_origin_is_the_form_error_and_nothing_is_saved(
    logged_in: httpx.AsyncClient, conn: db.Conn, owner: merchants.Merchant
) -> None:
    token = await page_csrf(logged_in, "/dashboard/docs")
    typed = "https://shop.example\nhttps://*.shop.example"
    r = await logged_in.post(URL, data={"csrf_token": token, "origins": typed})
    assert r.status_code == 400
    assert 'data-test-id="checkout-origins-error"' in r.text and "not an origin" in r.text
    assert _textarea(r.text) == typed  # what was typed stays in the field
    assert (await merchants.checkout_config(conn, owner.id)).allowed_origins == []
    # Without the session's CSRF token nothing is saved either.
    r = await logged_in.post(URL, data={"origins": "https://shop.example"})
    assert r.status_code == 403
    assert (await merchants.checkout_config(conn, owner.id)).allowed_origins == []
