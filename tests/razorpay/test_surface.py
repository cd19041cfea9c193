"""/v1 in process: Razorpay's entities, lists, errors and edges over the classic rows."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from fastapi import APIRouter

from gateway import db, merchants, payments, settings
from tests.faults.test_bad_input import BODIES
from tests.helpers import app_client, new_order
from tests.razorpay.conftest import assert_razorpay_error

ORDER_KEYS = {
    "id",
    "entity",
    "amount",
    "amount_paid",
    "amount_due",
    "currency",
    "receipt",
    "offer_id",
    "status",
    "attempts",
    "notes",
    "created_at",
}


async def _order(client: httpx.AsyncClient, basic: httpx.BasicAuth, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/orders", json={"amount": 50000, **body}, auth=basic)
    assert r.status_code == 200, r.text
    order: dict[str, Any] = r.json()
    return order


async def test_order_create_answers_razorpays_entity_with_200(
    client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    before = int(time.time())
    order = await _order(
        client, basic, amount="50000", currency="INR", receipt="rcpt_1", notes={"k": "v"}
    )
    assert set(order) == ORDER_KEYS
    assert order["id"].startswith("order_") and order["entity"] == "order"
    assert (order["amount"], order["amount_paid"], order["amount_due"]) == (50000, 0, 50000)
    assert (order["status"], order["attempts"], order["currency"]) == ("created", 0, "INR")
    assert order["receipt"] == "rcpt_1" and order["notes"] == {"k": "v"}
    assert before <= order["created_at"] <= int(time.time()) + 1
    fetched = await client.get(f"/v1/orders/{order['id']}", auth=basic)
    assert fetched.status_code == 200 and fetched.json() == order


async def test_payment_capture_takes_every_spelling_razorpays_clients_use(
    client: httpx.AsyncClient, basic: httpx.BasicAuth, conn: db.Conn
) -> None:
    spellings: list[tuple[Any, bool | None]] = [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        (None, True),  # absent: Razorpay's default, automatic capture
    ]
    for sent, stored in spellings:
        body = {} if sent is None else {"payment_capture": sent}
        order = await _order(client, basic, **body)
        row = await db.fetch_one(
            conn, "SELECT payment_capture FROM orders WHERE id = %(id)s", {"id": order["id"]}
        )
        assert row is not None and row["payment_capture"] is stored, sent
    for bad in ("yes", 2, [1], {"a": 1}):
        r = await client.post(
            "/v1/orders", json={"amount": 50000, "payment_capture": bad}, auth=basic
        )
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == (
            "payment_capture"
        )


async def test_bad_order_input_names_the_field(
    client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    cases: list[tuple[Any, str]] = [
        ({}, "amount"),
        ({"amount": "12.5"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 99}, "amount"),
        ({"amount": 50000, "currency": "USD"}, "currency"),
        ({"amount": 50000, "receipt": "r" * 41}, "receipt"),
        ({"amount": 50000, "notes": "text"}, "notes"),
        ({"amount": 50000, "notes": {f"k{i}": i for i in range(16)}}, "notes"),
        ({"amount": 50000, "partial_payment": True}, "partial_payment"),
    ]
    for body, field in cases:
        r = await client.post("/v1/orders", json=body, auth=basic)
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == field, body
    r = await client.post("/v1/orders", json=[1], auth=basic)
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")
    r = await client.post(
        "/v1/orders", content=b"{not json", auth=basic, headers={"Content-Type": "application/json"}
    )
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")


async def test_lists_page_with_count_skip_and_a_time_window(
    client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    made = [(await _order(client, basic, receipt=f"r{i}"))["id"] for i in range(4)]
    newest_first = made[::-1]
    page = (await client.get("/v1/orders?count=2&skip=1", auth=basic)).json()
    assert page["entity"] == "collection" and page["count"] == 2
    assert [o["id"] for o in page["items"]] == newest_first[1:3]
    # The SDKs' defaults and extras: Node always sends count=10&skip=0, and nests expand[].
    everything = await client.get(
        "/v1/orders?count=10&skip=0&expand%5Bexpand%5D=payments&expand%5B%5D=payments",
        auth=basic,
    )
    assert [o["id"] for o in everything.json()["items"]] == newest_first
    assert (await client.get("/v1/orders", auth=basic)).json()["count"] == 4
    created = {o["id"]: o["created_at"] for o in everything.json()["items"]}
    start = created[made[0]]
    window = (await client.get(f"/v1/orders?from={start}&to={start + 3600}", auth=basic)).json()
    assert {o["id"] for o in window["items"]} == set(made)
    assert (await client.get(f"/v1/orders?to={start - 1}", auth=basic)).json()["count"] == 0
    by_receipt = (await client.get("/v1/orders?receipt=r2", auth=basic)).json()
    assert [o["id"] for o in by_receipt["items"]] == [made[2]]
    for query, field in (
        ("count=101", "count"),
        ("count=0", "count"),
        ("count=ten", "count"),
        ("skip=-1", "skip"),
        ("from=12", "from"),
    ):
        r = await client.get(f"/v1/orders?{query}", auth=basic)
        assert assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")["error"]["field"] == field
    r = await client.get("/v1/orders?count=101", auth=basic)
    assert r.json()["error"]["description"] == "The count may not be greater than 100."


async def test_unknown_and_foreign_ids_are_razorpays_400(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    other = await merchants.create(
        conn, name="Other", email=f"o{time.time_ns()}@example.com", config=config
    )
    foreign = await _order(client, httpx.BasicAuth(other.api_key, other.api_secret))
    for path in (
        "/v1/orders/order_DoesNotExist1234",
        f"/v1/orders/{foreign['id']}",
        "/v1/orders/nonsense",
        "/v1/orders/order_DoesNotExist1234/payments",
        "/v1/payments/pay_DoesNotExist12345",
        "/v1/payments/pay_DoesNotExist12345/refunds",
        "/v1/payments/pay_DoesNotExist12345/refunds/rfnd_DoesNotExist1234",
        "/v1/refunds/rfnd_DoesNotExist1234",
    ):
        r = await client.get(path, auth=basic)
        assert_razorpay_error(r, 400, "NOT_FOUND_ERROR", "The id provided does not exist")
    r = await client.post("/v1/payments/pay_DoesNotExist12345/capture", json={}, auth=basic)
    assert_razorpay_error(r, 400, "NOT_FOUND_ERROR", "The id provided does not exist")


async def test_bad_credentials_are_a_401_bad_request_error(
    client: httpx.AsyncClient, merchant: merchants.NewMerchant
) -> None:
    for auth in (
        None,
        httpx.BasicAuth(merchant.api_key, "wrong"),
        httpx.BasicAuth("key_nobody", merchant.api_secret),
    ):
        r = await client.get("/v1/orders", auth=auth)
        assert_razorpay_error(r, 401, "AUTHENTICATION_ERROR", "Authentication failed")
    for header in ("Bearer abc", "Basic !!!", "Basic " + "a2V5"):  # "key", no colon
        r = await client.get("/v1/orders", headers={"Authorization": header})
        assert_razorpay_error(r, 401, "AUTHENTICATION_ERROR")
    # The classic headers are the classic API's: /v1 takes HTTP Basic only.
    r = await client.get(
        "/v1/orders",
        headers={"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret},
    )
    assert_razorpay_error(r, 401, "AUTHENTICATION_ERROR")


async def test_routing_refusals_are_razorpay_shaped_and_never_redirect(
    client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    r = await client.get("/v1/nothing-here", auth=basic)
    assert_razorpay_error(r, 404, "NOT_FOUND_ERROR")
    r = await client.delete("/v1/orders", auth=basic)
    assert_razorpay_error(r, 405, "BAD_REQUEST_ERROR")
    assert r.headers["allow"] == "GET, POST"
    # The Python SDK with a trailing-slash base_url asks for //v1/...; a trailing slash is the
    # same resource too, answered directly (requests would follow a redirect, then the SDK
    # would raise on the 3xx).
    order = await _order(client, basic)
    # (Absolute URLs: httpx would read a relative "//v1/..." as a host named v1.)
    for path in (f"//v1/orders/{order['id']}", f"/v1/orders/{order['id']}/", "/v1//orders/"):
        r = await client.get(f"http://testserver{path}", auth=basic)
        assert r.status_code == 200, (path, r.text)
        assert r.request.url.raw_path.decode().startswith(path.split("order_")[0])
    # The classic API is untouched by this normalising.
    r = await client.get("http://testserver//api/v1/orders")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND_ERROR"


async def test_a_body_over_the_cap_is_razorpay_shaped(
    client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    big = b'{"amount": 1000, "notes": {"x": "' + b"a" * 2_000_000 + b'"}}'
    r = await client.post(
        "/v1/orders", content=big, auth=basic, headers={"Content-Type": "application/json"}
    )
    body = assert_razorpay_error(r, 413, "BAD_REQUEST_ERROR")
    assert body["error"]["metadata"]["request_id"] == r.headers["x-request-id"]


async def test_an_unexpected_error_is_a_server_error_with_the_request_id(
    api: Any, client: httpx.AsyncClient, basic: httpx.BasicAuth
) -> None:
    router = APIRouter(include_in_schema=False)  # the session's app: keep the document as it is

    @router.get("/v1/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    api.include_router(router)
    r = await client.get("/v1/_boom", headers={"X-Request-Id": "trace-rzp"})
    body = assert_razorpay_error(r, 500, "INTERNAL_ERROR")
    assert body["error"]["metadata"] == {"request_id": "trace-rzp"}
    assert "secret internal detail" not in r.text


async def test_v1_is_rate_limited_per_merchant_and_failed_logins_per_address(
    config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    small = config.model_copy(
        update={"rate_limit_per_minute": 3, "public_rate_limit_per_minute": 2}
    )
    basic = httpx.BasicAuth(merchant.api_key, merchant.api_secret)
    address = (f"10.13.{time.time_ns() % 250}.{time.time_ns() % 199}", 4242)
    async with app_client(small, client=address) as c:
        for _ in range(3):
            assert (await c.get("/v1/orders", auth=basic)).status_code == 200
        limited = await c.get("/v1/orders", auth=basic)
        assert_razorpay_error(limited, 429, "RATE_LIMITED")
        assert limited.headers["ratelimit-policy"] == '3;w=60;name="key"'
        assert int(limited.headers["retry-after"]) >= 1
    wrong = httpx.BasicAuth(merchant.api_key, "wrong")
    other_address = (f"10.14.{time.time_ns() % 250}.{time.time_ns() % 199}", 4242)
    async with app_client(small, client=other_address) as c:
        reasons = [(await c.get("/v1/orders", auth=wrong)).json()["error"]["reason"]]
        reasons += [(await c.get("/v1/orders", auth=wrong)).json()["error"]["reason"]]
        # Over the address's failure allowance: refused before routing (the middleware's own
        # answer, re-shaped at the edge), whatever the credentials.
        refused = await c.get("/v1/orders", auth=basic)
        assert reasons == ["AUTHENTICATION_ERROR", "AUTHENTICATION_ERROR"]
        assert_razorpay_error(refused, 429, "RATE_LIMITED")


async def test_v1_is_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    """/openapi.json describes our own API; /v1 is Razorpay's (its SDKs are its tests)."""
    document = (await client.get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/v1")]


async def test_payments_are_shown_with_razorpays_statuses(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    order = await _order(client, basic, payment_capture=False)
    r = await client.post(
        "/api/v1/payments",
        json={
            "order_id": order["id"],
            "method": "card",
            "card": {
                "number": "5555555555554444",
                "expiry_month": "12",
                "expiry_year": "2099",
                "cvv": "123",
            },
        },
        headers=auth,
    )
    assert r.status_code == 201
    payment_id = r.json()["id"]
    created = (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()
    assert created["status"] == "created" and created["captured"] is False
    assert created["card"]["last4"] == "4444" and created["card"]["network"] == "MasterCard"
    assert created["vpa"] is None and created["method"] == "card"
    attempted = (await client.get(f"/v1/orders/{order['id']}", auth=basic)).json()
    assert (attempted["status"], attempted["attempts"]) == ("attempted", 1)
    processed = await payments.process(conn, payment_id, config)
    assert processed is not None and processed.status == "success" and not processed.captured
    authorized = (await client.get(f"/v1/payments/{payment_id}", auth=basic)).json()
    assert authorized["status"] == "authorized" and authorized["refund_status"] is None
    listed = (await client.get(f"/v1/orders/{order['id']}/payments", auth=basic)).json()
    assert listed["entity"] == "collection" and listed["items"] == [authorized]

    declined_order = await _order(client, basic)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": declined_order["id"], "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    declined = await payments.process(
        conn, r.json()["id"], config.model_copy(update={"test_payment_success": False})
    )
    assert declined is not None
    failed = (await client.get(f"/v1/payments/{declined.id}", auth=basic)).json()
    assert failed["status"] == "failed" and failed["vpa"] == "asha@okbank"
    assert failed["error_code"] == "BAD_REQUEST_ERROR"
    assert failed["error_reason"] == "payment_failed" and failed["error_description"]
    assert failed["error_source"] and failed["error_step"]


async def test_classic_orders_behave_as_before_and_read_as_authorized(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    order_id = await new_order(client, auth)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    processed = await payments.process(conn, r.json()["id"], config)
    assert processed is not None and processed.status == "success" and not processed.captured
    classic = (await client.get(f"/api/v1/payments/{processed.id}", headers=auth)).json()
    assert classic["status"] == "success" and classic["captured"] is False
    assert "notes" not in classic
    seen = (await client.get(f"/v1/payments/{processed.id}", auth=basic)).json()
    assert seen["status"] == "authorized"
    # /v1 refunds captured payments only; the classic API refunds any successful one.
    r = await client.post(f"/v1/payments/{processed.id}/refund", json={}, auth=basic)
    assert_razorpay_error(r, 400, "BAD_REQUEST_ERROR")
    r = await client.post(
        f"/api/v1/payments/{processed.id}/refunds", json={"amount": 100}, headers=auth
    )
    assert r.status_code == 201


async def test_malformed_bodies_are_razorpay_400s_never_5xx(
    client: httpx.AsyncClient,
    basic: httpx.BasicAuth,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    """tests/faults/test_bad_input.py's bodies on every /v1 write: an answer (a 2xx for the
    few that are valid Razorpay input) or Razorpay's 4xx envelope, never a 5xx."""
    order = await _order(client, basic)
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": order["id"], "method": "upi", "vpa": "asha@okbank"},
        headers=auth,
    )
    payment_id = r.json()["id"]
    await payments.process(conn, payment_id, config)
    refund = await client.post(
        f"/v1/payments/{payment_id}/refund", json={"amount": 100}, auth=basic
    )
    writes = [
        ("POST", "/v1/orders"),
        ("PATCH", f"/v1/orders/{order['id']}"),
        ("POST", f"/v1/payments/{payment_id}/capture"),
        ("POST", f"/v1/payments/{payment_id}/refund"),
        ("PATCH", f"/v1/payments/{payment_id}"),
        ("POST", "/v1/refunds"),
        ("PATCH", f"/v1/refunds/{refund.json()['id']}"),
    ]
    for body in [*BODIES, 2**70, -5, "12", {"notes": [1]}, {"notes": {"k": {"nested": 1}}}]:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        for method, path in writes:
            r = await client.request(
                method,
                path,
                content=content,
                auth=basic,
                headers={"Content-Type": "application/json"},
            )
            if r.status_code >= 400:
                assert_razorpay_error(r, r.status_code, r.json()["error"]["reason"])
                assert r.status_code < 500, (method, path, body, r.text)
            else:
                assert r.status_code == 200, (method, path, body, r.text)
