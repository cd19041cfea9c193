"""Small helpers shared by API tests."""

from __future__ import annotations

from typing import Any

import httpx

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
RUPAY = "6080000000000000"


def card_body(order_id: str, number: str = VISA, **card: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "method": "card",
        "card": {
            "number": number,
            "expiry_month": "12",
            "expiry_year": "2099",
            "cvv": "739",
            "holder_name": "Asha Rao",
            **card,
        },
    }


async def new_order(client: httpx.AsyncClient, auth: dict[str, str], amount: int = 50000) -> str:
    r = await client.post("/api/v1/orders", json={"amount": amount}, headers=auth)
    assert r.status_code == 201, r.text
    order_id: str = r.json()["id"]
    return order_id


async def new_payment(
    client: httpx.AsyncClient, auth: dict[str, str], amount: int = 50000, method: str = "upi"
) -> dict[str, Any]:
    order_id = await new_order(client, auth, amount)
    body = (
        {"order_id": order_id, "method": "upi", "vpa": "asha@okbank"}
        if method == "upi"
        else card_body(order_id)
    )
    r = await client.post("/api/v1/payments", json=body, headers=auth)
    assert r.status_code == 201, r.text
    payment: dict[str, Any] = r.json()
    return payment
