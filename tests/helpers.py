"""Small helpers shared by API tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from gateway import db, merchants, payments, settings
from gateway.api import app as app_module

T = TypeVar("T")

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
RUPAY = "6080000000000000"


async def new_merchant(
    conn: db.Conn,
    *,
    name: str = "Shop",
    password: str | None = None,
    webhook_url: str | None = None,
    config: settings.Settings | None = None,
) -> merchants.NewMerchant:
    """A fresh merchant (a unique email), made the supported way; its secrets in clear are on
    the object (`api_secret`, `webhook_secret`), as `merchants.create` returns them once."""
    suffix = os.urandom(6).hex()
    made = await merchants.create(
        conn,
        name=f"{name} {suffix}",
        email=f"m{suffix}@example.com",
        password=password,
        config=config or settings.get(),
    )
    if webhook_url is not None:
        await merchants.set_webhook_url(conn, made.id, webhook_url)
    return made


def auth_of(merchant: merchants.NewMerchant) -> dict[str, str]:
    """The API headers of a merchant made by `new_merchant`."""
    return {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}


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


@contextlib.asynccontextmanager
async def app_client(
    config: settings.Settings, client: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[httpx.AsyncClient]:
    """A second API app with its own settings (small limits, an unreachable Redis), run with
    its lifespan like the session's `api` fixture."""
    application = app_module.create_app(config)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


# Nothing listens on port 1: connections are refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


async def successful_payment(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    amount: int = 50000,
) -> dict[str, Any]:
    """A payment moved to `success` by the domain's own processing step (no worker needed)."""
    payment = await new_payment(client, auth, amount)
    processed = await payments.process(conn, payment["id"], config)
    assert processed is not None and processed.status == "success"
    return processed.out()


async def wait_until(
    probe: Callable[[], Awaitable[T]], timeout: float = 20, step: float = 0.2, what: str = ""
) -> T:
    """Await `probe` every `step` seconds until it returns something truthy, and return that.
    After `timeout` seconds the test fails with the last value seen: a deadline, never a sleep
    standing in for a condition."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or probe!r}; last {value!r}")
        await asyncio.sleep(step)


def wait_until_sync(
    probe: Callable[[], T], timeout: float = 20, step: float = 0.1, what: str = ""
) -> T:
    """`wait_until` for code without an event loop (processes, the sync browser tests)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or probe!r}; last {value!r}")
        time.sleep(step)
