"""CORS for the browsers that call the API (the checkout page, the dashboard): their origins get
the CORS headers, other origins do not, and a server-to-server call (no Origin) gets none."""

from __future__ import annotations

import httpx

from gateway import settings
from tests.helpers import new_order


async def test_the_checkout_origin_may_read_public_answers(
    client: httpx.AsyncClient, auth: dict[str, str], config: settings.Settings
) -> None:
    order_id = await new_order(client, auth)
    origin = config.checkout_url
    r = await client.get(f"/api/v1/orders/{order_id}/public", headers={"Origin": origin})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()


async def test_a_preflight_from_the_checkout_origin_is_answered(
    client: httpx.AsyncClient, config: settings.Settings
) -> None:
    r = await client.options(
        "/api/v1/payments/public",
        headers={
            "Origin": config.checkout_url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == config.checkout_url
    assert "POST" in r.headers["access-control-allow-methods"]


async def test_another_origin_gets_no_cors_headers(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    r = await client.get(
        f"/api/v1/orders/{order_id}/public", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in r.headers


async def test_a_call_without_origin_carries_no_cors_headers(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    r = await client.get("/api/v1/orders", headers=auth)
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]
