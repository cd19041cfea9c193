"""An id that cannot exist (wrong shape, a NUL, far too long) is simply not found: 404
NOT_FOUND_ERROR on every resource, never a 400 from the database refusing the value."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import assert_error
from tests.helpers import new_payment

IMPOSSIBLE = ["%00", "x" * 300, "%E2%82%AC", "0000000000000000%0A", "abc"]


@pytest.mark.parametrize("tail", IMPOSSIBLE)
async def test_reads_of_impossible_ids_are_404(
    client: httpx.AsyncClient, auth: dict[str, str], tail: str
) -> None:
    for path, headers in [
        (f"/api/v1/orders/order_{tail}", auth),
        (f"/api/v1/orders/order_{tail}/public", {}),
        (f"/api/v1/payments/pay_{tail}", auth),
        (f"/api/v1/payments/pay_{tail}/public", {}),
        (f"/api/v1/refunds/rfnd_{tail}", auth),
        (f"/api/v1/webhooks/{tail}", auth),
    ]:
        assert_error(await client.get(path, headers=headers), 404, "NOT_FOUND_ERROR")


@pytest.mark.parametrize("tail", IMPOSSIBLE)
async def test_writes_naming_impossible_ids_are_404(
    client: httpx.AsyncClient, auth: dict[str, str], tail: str
) -> None:
    assert_error(
        await client.post(f"/api/v1/payments/pay_{tail}/capture", headers=auth),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.post(
            f"/api/v1/payments/pay_{tail}/refunds", json={"amount": 100}, headers=auth
        ),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.post(f"/api/v1/webhooks/{tail}/retry", headers=auth), 404, "NOT_FOUND_ERROR"
    )


@pytest.mark.parametrize("order_id", ["order_\x00", "order_" + "9" * 200, "order_\n", ""])
async def test_payment_for_an_impossible_order_is_404(
    client: httpx.AsyncClient, auth: dict[str, str], order_id: str
) -> None:
    body = {"order_id": order_id, "method": "upi", "vpa": "a@okbank"}
    for path, headers in [("/api/v1/payments", auth), ("/api/v1/payments/public", {})]:
        r = await client.post(path, json=body, headers=headers)
        if order_id:
            assert_error(r, 404, "NOT_FOUND_ERROR")
        else:  # an empty order_id is a missing one
            assert_error(r, 400, "BAD_REQUEST_ERROR")


async def test_a_real_id_with_a_suffix_is_not_the_same_resource(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    payment = await new_payment(client, auth)
    ok = await client.get(f"/api/v1/payments/{payment['id']}", headers=auth)
    assert ok.status_code == 200
    for suffix in ["%0A", "%00", "x"]:
        r = await client.get(f"/api/v1/payments/{payment['id']}{suffix}", headers=auth)
        assert_error(r, 404, "NOT_FOUND_ERROR")
