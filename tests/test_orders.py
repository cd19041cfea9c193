from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import assert_error

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def test_create_and_read_back_an_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/orders",
        json={"amount": 50000, "receipt": "rcpt_1", "notes": {"k": "ü"}},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert re.fullmatch(r"order_[A-Za-z0-9]{16}", order["id"])
    assert order["amount"] == 50000 and order["currency"] == "INR"
    assert order["status"] == "created" and order["notes"] == {"k": "ü"}
    assert ISO.match(order["created_at"]) and ISO.match(order["updated_at"])
    got = await client.get(f"/api/v1/orders/{order['id']}", headers=auth)
    assert got.status_code == 200 and got.json() == order
    public = await client.get(f"/api/v1/orders/{order['id']}/public")
    assert public.json() == {
        "id": order["id"],
        "amount": 50000,
        "currency": "INR",
        "status": "created",
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": 99},
        {"amount": 100.0},
        {"amount": 150.5},
        {"amount": "1000"},
        {"amount": True},
        {"amount": None},
        {"amount": 1000, "currency": "USD"},
        {"amount": 1000, "receipt": "x" * 256},
        {"amount": 1000, "receipt": 5},
        {"amount": 1000, "notes": [1, 2]},
        {"amount": 1000, "notes": "text"},
    ],
)
async def test_invalid_order_body_is_rejected_with_envelope(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    r = await client.post("/api/v1/orders", json=body, headers=auth)
    assert_error(r, 400, "BAD_REQUEST_ERROR")


async def test_minimum_amount_is_accepted(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.post("/api/v1/orders", json={"amount": 100}, headers=auth)
    assert r.status_code == 201


async def test_another_merchants_order_is_not_found(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    order = (await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)).json()
    r = await client.get(f"/api/v1/orders/{order['id']}", headers=other_auth)
    assert_error(r, 404, "NOT_FOUND_ERROR")


async def test_unknown_order_is_not_found(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_error(
        await client.get("/api/v1/orders/order_doesnotexist0000", headers=auth),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.get("/api/v1/orders/order_doesnotexist0000/public"), 404, "NOT_FOUND_ERROR"
    )


async def test_list_orders_is_newest_first_with_paging_and_filter(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = []
    for amount in (1000, 2000, 3000):
        created.append(
            (await client.post("/api/v1/orders", json={"amount": amount}, headers=auth)).json()
        )
    page = (await client.get("/api/v1/orders?limit=2", headers=auth)).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [o["id"] for o in page["data"]] == [created[2]["id"], created[1]["id"]]
    rest = (await client.get("/api/v1/orders?limit=2&offset=2", headers=auth)).json()
    assert [o["id"] for o in rest["data"]] == [created[0]["id"]]
    paid = (await client.get("/api/v1/orders?status=paid", headers=auth)).json()
    assert paid["total"] == 0 and paid["data"] == []
    for bad in ("limit=0", "limit=101", "offset=-1", "status=bogus", "limit=abc"):
        assert_error(
            await client.get(f"/api/v1/orders?{bad}", headers=auth), 400, "BAD_REQUEST_ERROR"
        )
