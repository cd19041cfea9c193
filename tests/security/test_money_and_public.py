"""Attacks on money and on the unauthenticated checkout surface (issue 11): capture after a
partial refund, the public payment view, a deactivated merchant's checkout, and a checkout bound
to the merchant's key and allowed origins."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway import db, errors, merchants, settings
from gateway.checkout import app as checkout_app
from tests.conftest import assert_error
from tests.helpers import card_body, new_order, successful_payment

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


# ---- 2. the public payment view ----


async def test_public_payment_view_shows_no_payer_details(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    vpa = "asha.private@okbank"
    order_id = await new_order(client, auth)
    upi = await client.post(
        "/api/v1/payments/public", json={"order_id": order_id, "method": "upi", "vpa": vpa}
    )
    assert upi.status_code == 201, upi.text
    card = await client.post("/api/v1/payments/public", json=card_body(order_id))
    assert card.status_code == 201, card.text

    for created in (upi.json(), card.json()):
        r = await client.get(f"/api/v1/payments/{created['id']}/public")
        assert r.status_code == 200, r.text
        view = r.json()
        assert set(view) == PUBLIC_PAYMENT_FIELDS, view
        assert view["id"] == created["id"] and view["order_id"] == order_id
        assert view["status"] == "pending" and view["amount"] == 50000
        assert vpa not in r.text and "1111" not in r.text and "visa" not in r.text


async def test_public_payment_creation_answers_the_contracts_payment(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # A decision, not an attack: POST /payments/public keeps the contract's "201 payment". It
    # echoes only what the payer just typed, and holds nothing of the merchant's.
    order_id = await new_order(client, auth)
    r = await client.post(
        "/api/v1/payments/public", json={"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["vpa"] == "a@bank" and "merchant_id" not in r.json()


# ---- 3. a deactivated merchant's checkout ----


async def test_public_payment_on_a_deactivated_merchants_order_is_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    merchant: merchants.Merchant,
) -> None:
    order_id = await new_order(client, auth)
    await conn.execute(
        "UPDATE merchants SET is_active = false WHERE id = %(id)s", {"id": merchant.id}
    )
    r = await client.post(
        "/api/v1/payments/public", json={"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    )
    assert_error(r, 404, "NOT_FOUND_ERROR")
    r = await client.post("/api/v1/payments/public", json=card_body(order_id))
    assert_error(r, 404, "NOT_FOUND_ERROR")
    assert await _payment_count(conn, order_id) == 0
    # The checkout page sees it as it sees an unknown order.
    unknown = await client.get("/api/v1/orders/order_0000000000000000/public")
    r = await client.get(f"/api/v1/orders/{order_id}/public")
    assert_error(r, 404, "NOT_FOUND_ERROR")
    assert r.json()["error"] == unknown.json()["error"]


# ---- 4. a checkout bound to the merchant's key ----


async def test_another_merchants_key_cannot_open_or_pay_an_order(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    conn: db.Conn,
) -> None:
    order_id = await new_order(client, auth)
    mine, theirs = auth["X-Api-Key"], other_auth["X-Api-Key"]
    body = {"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    unknown = (await client.get("/api/v1/orders/order_0000000000000000/public")).json()

    for key in (theirs, "key_test_doesnotexist000", "key with spaces"):
        r = await client.get(f"/api/v1/orders/{order_id}/public", params={"key": key})
        assert_error(r, 404, "NOT_FOUND_ERROR")
        assert r.json() == unknown
        r = await client.post("/api/v1/payments/public", params={"key": key}, json=body)
        assert_error(r, 404, "NOT_FOUND_ERROR")
    assert await _payment_count(conn, order_id) == 0

    r = await client.get(f"/api/v1/orders/{order_id}/public", params={"key": mine})
    assert r.status_code == 200 and r.json()["id"] == order_id
    created = await client.post("/api/v1/payments/public", params={"key": mine}, json=body)
    assert created.status_code == 201, created.text
    url = f"/api/v1/payments/{created.json()['id']}/public"
    assert_error(await client.get(url, params={"key": theirs}), 404, "NOT_FOUND_ERROR")
    assert (await client.get(url, params={"key": mine})).status_code == 200
    # The contract's direct link carries no key and keeps working.
    assert (await client.get(url)).status_code == 200
    assert (await client.get(f"/api/v1/orders/{order_id}/public")).status_code == 200


# ---- 4. the merchant's allowed checkout origins ----


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.shop.example",
        "https://shop.example/pay",
        "https://shop.example?x=1",
        "https://shop.example#top",
        "https://user:pw@shop.example",
        "https://shop.example; script-src *",
        "https://shop.example 'unsafe-inline'",
        " https://shop.example",
        "javascript:alert(1)",
        "ftp://shop.example",
        "null",
        "shop.example",
        "https://",
        "https://shöp.example",
        "https://shop.example:99999",
    ],
)
async def test_checkout_origins_must_be_exact_origins(
    client: httpx.AsyncClient, auth: dict[str, str], origin: str
) -> None:
    r = await client.put(CHECKOUT_CONFIG, json={"allowed_origins": [origin]}, headers=auth)
    assert_error(r, 400, "BAD_REQUEST_ERROR")
    assert (await client.get(CHECKOUT_CONFIG, headers=auth)).json() == {"allowed_origins": []}


async def test_checkout_origins_are_normalised_and_need_credentials(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    body = {
        "allowed_origins": [
            "HTTPS://Shop.Example:443/",
            "http://localhost:8080",
            "https://shop.example",
            "http://[::1]:3000",
        ]
    }
    assert_error(await client.put(CHECKOUT_CONFIG, json=body), 401, "AUTHENTICATION_ERROR")
    r = await client.put(CHECKOUT_CONFIG, json=body, headers=auth)
    assert r.status_code == 200, r.text
    expected = ["https://shop.example", "http://localhost:8080", "http://[::1]:3000"]
    assert r.json() == {"allowed_origins": expected}
    assert (await client.get(CHECKOUT_CONFIG, headers=auth)).json()["allowed_origins"] == expected
    # Another merchant's configuration is its own.
    assert (await client.get(CHECKOUT_CONFIG, headers=other_auth)).json()["allowed_origins"] == []
    too_many = {"allowed_origins": [f"https://s{i}.example" for i in range(21)]}
    assert_error(
        await client.put(CHECKOUT_CONFIG, json=too_many, headers=auth), 400, "BAD_REQUEST_ERROR"
    )
    r = await client.put(CHECKOUT_CONFIG, json={"allowed_origins": []}, headers=auth)
    assert r.json() == {"allowed_origins": []}


def test_production_takes_https_origins_only() -> None:
    with pytest.raises(errors.BadRequest, match="https"):
        merchants.checkout_origin("http://shop.example", production=True)
    assert merchants.checkout_origin("https://shop.example", production=True) == (
        "https://shop.example"
    )


# ---- 4. the hosted page: framed by, and posting to, allowed origins only ----


@contextlib.asynccontextmanager
async def _checkout(config: settings.Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = checkout_app.create_app(config)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def _page(
    config: settings.Settings, order_id: str, **query: str
) -> tuple[str, str, dict[str, str]]:
    """(frame-ancestors, the page's HTML, its meta tags) of one checkout page view."""
    async with _checkout(config) as c:
        r = await c.get("/checkout", params={"order_id": order_id, **query})
    assert r.status_code == 200, r.text
    ancestors = re.search(r"frame-ancestors ([^;]*)", r.headers["content-security-policy"])
    assert ancestors is not None
    metas = dict(re.findall(r'<meta name="(gateway-[a-z-]+)" content="([^"]*)">', r.text))
    return ancestors.group(1), r.text, metas


SHOP = "https://shop.example"
EVIL = "https://evil.example"


async def test_checkout_is_framed_only_by_and_posts_only_to_allowed_origins(
    client: httpx.AsyncClient, auth: dict[str, str], config: settings.Settings
) -> None:
    order_id = await new_order(client, auth)
    allowed = {"allowed_origins": [SHOP, "https://m.shop.example"]}
    assert (await client.put(CHECKOUT_CONFIG, json=allowed, headers=auth)).status_code == 200
    key = auth["X-Api-Key"]

    embedded = {"embedded": "true", "key": key}
    ancestors, _, metas = await _page(config, order_id, **embedded, parent_origin=SHOP)
    assert ancestors == f"{SHOP} https://m.shop.example"
    assert metas.get("gateway-parent-origin") == SHOP and "gateway-embedding" not in metas

    # A page on another origin names itself (or nothing) as the parent: nothing is posted to
    # it, the page refuses to run, and the browser would not frame it anyway.
    for parent in ({"parent_origin": EVIL}, {"parent_origin": "*"}, {}):
        ancestors, text, metas = await _page(config, order_id, **embedded, **parent)
        assert ancestors == f"{SHOP} https://m.shop.example" and EVIL not in ancestors
        assert "gateway-parent-origin" not in metas and EVIL not in text
        assert metas.get("gateway-embedding") == "refused"

    # The contract's direct visit still renders, and is framed by nobody else either.
    ancestors, _, metas = await _page(config, order_id)
    assert ancestors == f"{SHOP} https://m.shop.example"
    assert set(metas) == {"gateway-api-url"}


async def test_without_configured_origins_demo_embeds_anywhere_and_production_nowhere(
    client: httpx.AsyncClient, auth: dict[str, str], config: settings.Settings
) -> None:
    order_id = await new_order(client, auth)
    query = {"embedded": "true", "key": auth["X-Api-Key"], "parent_origin": EVIL}
    ancestors, _, metas = await _page(config, order_id, **query)
    assert ancestors == "*" and metas.get("gateway-parent-origin") == EVIL

    production = config.model_copy(update={"env": "production", "test_mode": False})
    assert production.production
    ancestors, _, metas = await _page(production, order_id, **query)
    assert ancestors == "'none'" and "gateway-parent-origin" not in metas
    assert metas.get("gateway-embedding") == "refused"
    ancestors, _, metas = await _page(production, order_id)
    assert ancestors == "'none'" and set(metas) == {"gateway-api-url"}


async def test_checkout_page_with_another_merchants_key_uses_no_ones_origins(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    config: settings.Settings,
) -> None:
    # Merchant B allows its own site; B's key with A's order must not let B's site frame A's
    # checkout (nor receive its results).
    order_a = await new_order(client, auth)
    r = await client.put(CHECKOUT_CONFIG, json={"allowed_origins": [EVIL]}, headers=other_auth)
    assert r.status_code == 200
    await client.put(CHECKOUT_CONFIG, json={"allowed_origins": [SHOP]}, headers=auth)
    query = {"embedded": "true", "key": other_auth["X-Api-Key"], "parent_origin": EVIL}
    production = config.model_copy(update={"env": "production", "test_mode": False})
    ancestors, _, metas = await _page(production, order_a, **query)
    assert EVIL not in ancestors and "gateway-parent-origin" not in metas
