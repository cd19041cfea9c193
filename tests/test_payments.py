"""Payment creation through the API: validation in the contract's order, shapes, ownership."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from gateway import instruments
from tests.conftest import assert_error
from tests.helpers import AMEX, MASTERCARD, RUPAY, VISA, card_body, new_order


async def test_upi_payment_is_created_pending(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth, 50000)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "user.name-1@okhdfc"},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", p["id"])
    assert p["status"] == "pending" and p["captured"] is False
    assert p["amount"] == 50000 and p["currency"] == "INR" and p["order_id"] == order_id
    assert p["method"] == "upi" and p["vpa"] == "user.name-1@okhdfc"
    assert p["error_code"] is None and p["amount_refunded"] == 0
    assert "card_last4" not in p
    got = await client.get(f"/api/v1/payments/{p['id']}", headers=auth)
    assert got.json() == p


@pytest.mark.parametrize(
    ("number", "network"),
    [
        (VISA, "visa"),
        (MASTERCARD, "mastercard"),
        (AMEX, "amex"),
        (RUPAY, "rupay"),
        ("4111-1111-1111-1111", "visa"),
        ("4111 1111 1111 1111", "visa"),
    ],
)
async def test_card_payment_keeps_only_network_and_last4(
    client: httpx.AsyncClient, auth: dict[str, str], number: str, network: str
) -> None:
    order_id = await new_order(client, auth)
    r = await client.post("/api/v1/payments", json=card_body(order_id, number), headers=auth)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["card_network"] == network
    assert p["card_last4"] == re.sub(r"\D", "", number)[-4:]
    assert "vpa" not in p and "card" not in p and "cvv" not in r.text


async def test_flat_card_form_is_accepted(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    order_id = await new_order(client, auth)
    body = {
        "order_id": order_id,
        "method": "card",
        "card_number": MASTERCARD,
        "card_expiry": "12/99",
        "card_cvv": "123",
        "card_holder_name": "A",
    }
    r = await client.post("/api/v1/payments", json=body, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["card_network"] == "mastercard"


def test_network_detection_table() -> None:
    assert instruments.network("4000000000000") == "visa"
    assert [instruments.network(f"{p}00000000000000") for p in (50, 51, 55, 56)] == [
        "unknown",
        "mastercard",
        "mastercard",
        "unknown",
    ]
    assert {instruments.network("340000000000000"), instruments.network("370000000000000")} == {
        "amex"
    }
    assert {instruments.network(f"{p}00000000000000") for p in (60, 65, 81, 85, 89)} == {"rupay"}
    assert instruments.network("8000000000000000") == "unknown"
    assert instruments.network("9000000000000000") == "unknown"


def _expired_year() -> str:
    import datetime as dt

    return str(dt.datetime.now(dt.UTC).year - 1)


BAD: list[tuple[Any, int, str]] = [
    ({"method": "upi", "vpa": "a@b"}, 400, "BAD_REQUEST_ERROR"),  # no order_id
    ({"method": "cash"}, 400, "BAD_REQUEST_ERROR"),
    ({}, 400, "BAD_REQUEST_ERROR"),
    ({"method": "upi"}, 400, "BAD_REQUEST_ERROR"),
    ({"method": "upi", "vpa": "no-at-sign"}, 400, "INVALID_VPA"),
    ({"method": "upi", "vpa": "a@b@c"}, 400, "INVALID_VPA"),
    ({"method": "upi", "vpa": "user@ok.bank"}, 400, "INVALID_VPA"),
    ({"method": "upi", "vpa": "us er@bank"}, 400, "INVALID_VPA"),
    ({"method": "card"}, 400, "BAD_REQUEST_ERROR"),
    ({"method": "card", "card": {"number": VISA}}, 400, "BAD_REQUEST_ERROR"),
    (
        {"method": "card", "card": {"number": VISA, "expiry_month": "12", "expiry_year": "2099"}},
        400,
        "BAD_REQUEST_ERROR",
    ),  # no cvv
    (
        {
            "method": "card",
            "card": {
                "number": "4111111111111112",
                "expiry_month": "12",
                "expiry_year": "2099",
                "cvv": "123",
            },
        },
        400,
        "INVALID_CARD",
    ),  # Luhn
    (
        {
            "method": "card",
            "card": {
                "number": "411111111111",
                "expiry_month": "12",
                "expiry_year": "2099",
                "cvv": "123",
            },
        },
        400,
        "INVALID_CARD",
    ),  # 12 digits
    (
        {
            "method": "card",
            "card": {
                "number": "41111111111111111111",
                "expiry_month": "12",
                "expiry_year": "2099",
                "cvv": "123",
            },
        },
        400,
        "INVALID_CARD",
    ),  # 20 digits
    (
        {
            "method": "card",
            "card": {
                "number": "4111abcd11111111",
                "expiry_month": "12",
                "expiry_year": "2099",
                "cvv": "123",
            },
        },
        400,
        "INVALID_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "13", "expiry_year": "2099", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "0", "expiry_year": "2099", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "01", "expiry_year": "20", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
    (
        {"method": "card", "card_number": VISA, "card_expiry": "01/20", "card_cvv": "123"},
        400,
        "EXPIRED_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "12", "expiry_year": "2099", "cvv": "12"},
        },
        400,
        "BAD_REQUEST_ERROR",
    ),  # cvv format
    ({"method": "card", "card": "4111"}, 400, "BAD_REQUEST_ERROR"),
    # The pattern holds to the true end of the string: `$` let a trailing newline through.
    ({"method": "upi", "vpa": "user@paytm\n"}, 400, "INVALID_VPA"),
    # Too long is an invalid VPA like any other, not a generic bad request.
    ({"method": "upi", "vpa": "a" * 300 + "@okbank"}, 400, "INVALID_VPA"),
    # Only ASCII digits are digits: "1²" crashed int(), Arabic-Indic "١٢" passed as 12.
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "1²", "expiry_year": "2099", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "١٢", "expiry_year": "2099", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
    (
        {
            "method": "card",
            "card": {"number": VISA, "expiry_month": "12", "expiry_year": "٢٠٩٩", "cvv": "123"},
        },
        400,
        "EXPIRED_CARD",
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
async def test_invalid_payment_is_rejected_with_its_code_and_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    order_id = await new_order(client, auth)
    # The first case tests a missing order_id; every other case is about the method fields.
    full = body if body == BAD[0][0] else {"order_id": order_id, **body}
    r = await client.post("/api/v1/payments", json=full, headers=auth)
    assert_error(r, status, code)
    # Nothing half-written: no payment exists for the order.
    listing = (await client.get("/api/v1/payments", headers=auth)).json()
    assert listing["total"] == 0


EXPIRED = {"expiry_month": "01", "expiry_year": "2020"}
BAD_LUHN = "4111111111111112"

# Each body fails two or more of the contract's checks (order → method → VPA / card fields →
# Luhn → expiry); the first of them in that order decides the answer.
SEVERAL_FAULTS: list[tuple[str, dict[str, Any], int, str, str]] = [
    (
        "unknown order before bad method",
        {"order_id": "order_0000000000000000", "method": "cash"},
        404,
        "NOT_FOUND_ERROR",
        "",
    ),
    (
        "bad method before bad vpa",
        {"method": "cash", "vpa": "not a vpa"},
        400,
        "BAD_REQUEST_ERROR",
        "Invalid payment method",
    ),
    (
        "missing vpa before the card a upi payment does not use",
        {"method": "upi", "card": {"number": BAD_LUHN, **EXPIRED, "cvv": "1"}},
        400,
        "BAD_REQUEST_ERROR",
        "vpa is required",
    ),
    (
        "missing card field before bad luhn and expiry",
        {"method": "card", "card": {"number": BAD_LUHN, **EXPIRED}},
        400,
        "BAD_REQUEST_ERROR",
        "Missing card fields: cvv",
    ),
    (
        "bad cvv before bad luhn and expiry",
        {"method": "card", "card": {"number": BAD_LUHN, **EXPIRED, "cvv": "12"}},
        400,
        "BAD_REQUEST_ERROR",
        "Invalid CVV",
    ),
    (
        "bad luhn before expiry",
        {"method": "card", "card": {"number": BAD_LUHN, **EXPIRED, "cvv": "123"}},
        400,
        "INVALID_CARD",
        "Invalid card number",
    ),
    (
        "too few digits before expiry",
        {"method": "card", "card": {"number": "411111", **EXPIRED, "cvv": "123"}},
        400,
        "INVALID_CARD",
        "Invalid card number",
    ),
    (
        "flat form: bad luhn before expiry",
        {"method": "card", "card_number": BAD_LUHN, "card_expiry": "01/20", "card_cvv": "123"},
        400,
        "INVALID_CARD",
        "Invalid card number",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "description"),
    [case[1:] for case in SEVERAL_FAULTS],
    ids=[case[0] for case in SEVERAL_FAULTS],
)
async def test_invalid_payment_is_rejected_in_contract_order(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    status: int,
    code: str,
    description: str,
) -> None:
    order_id = await new_order(client, auth)
    r = await client.post("/api/v1/payments", json={"order_id": order_id, **body}, headers=auth)
    error = assert_error(r, status, code)["error"]
    assert error["description"].startswith(description), error
    listing = (await client.get("/api/v1/payments", headers=auth)).json()
    assert listing["total"] == 0


async def test_expiry_in_current_month_is_accepted_and_last_month_is_not(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    order_id = await new_order(client, auth)
    ok = card_body(order_id, expiry_month=str(today.month), expiry_year=str(today.year % 100))
    assert (await client.post("/api/v1/payments", json=ok, headers=auth)).status_code == 201
    last = today.replace(day=1) - dt.timedelta(days=1)
    bad = card_body(order_id, expiry_month=f"{last.month:02d}", expiry_year=str(last.year))
    assert_error(await client.post("/api/v1/payments", json=bad, headers=auth), 400, "EXPIRED_CARD")


async def test_unknown_order_is_404_before_method_check(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/payments", json={"order_id": "order_0000000000000000"}, headers=auth
    )
    assert_error(r, 404, "NOT_FOUND_ERROR")


async def test_another_merchants_order_and_payment_are_404(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    body = {"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    assert_error(
        await client.post("/api/v1/payments", json=body, headers=other_auth), 404, "NOT_FOUND_ERROR"
    )
    pay = (await client.post("/api/v1/payments", json=body, headers=auth)).json()
    assert_error(
        await client.get(f"/api/v1/payments/{pay['id']}", headers=other_auth),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.post(f"/api/v1/payments/{pay['id']}/capture", headers=other_auth),
        404,
        "NOT_FOUND_ERROR",
    )


async def test_public_endpoints_take_the_merchant_from_the_order_and_expose_no_secrets(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    r = await client.post(
        "/api/v1/payments/public", json={"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    )
    assert r.status_code == 201, r.text
    p = r.json()
    public = await client.get(f"/api/v1/payments/{p['id']}/public")
    assert public.status_code == 200 and public.json()["id"] == p["id"]
    for text in (r.text, public.text):
        assert auth["X-Api-Secret"] not in text and auth["X-Api-Key"] not in text
        assert "merchant_id" not in text and "whsec_" not in text
    assert_error(
        await client.get("/api/v1/payments/pay_0000000000000000/public"), 404, "NOT_FOUND_ERROR"
    )


async def test_private_endpoints_need_credentials(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/payments"), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.post("/api/v1/payments", json={}), 401, "AUTHENTICATION_ERROR")


async def test_list_payments_filters_by_status_and_method(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    await client.post(
        "/api/v1/payments", json={"order_id": order_id, "method": "upi", "vpa": "a@b"}, headers=auth
    )
    await client.post("/api/v1/payments", json=card_body(order_id), headers=auth)
    page = (await client.get("/api/v1/payments?limit=1", headers=auth)).json()
    assert page["total"] == 2 and len(page["data"]) == 1 and page["data"][0]["method"] == "card"
    assert (await client.get("/api/v1/payments?status=pending", headers=auth)).json()["total"] == 2
    assert (await client.get("/api/v1/payments?status=success", headers=auth)).json()["total"] == 0
    assert (await client.get("/api/v1/payments?method=upi", headers=auth)).json()["total"] == 1
    assert_error(
        await client.get("/api/v1/payments?status=nope", headers=auth), 400, "BAD_REQUEST_ERROR"
    )


async def test_capture_of_a_pending_payment_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    p = (
        await client.post(
            "/api/v1/payments",
            json={"order_id": order_id, "method": "upi", "vpa": "a@b"},
            headers=auth,
        )
    ).json()
    body = assert_error(
        await client.post(f"/api/v1/payments/{p['id']}/capture", headers=auth),
        400,
        "BAD_REQUEST_ERROR",
    )
    assert body["error"]["description"] == "Payment not in capturable state"
