"""A merchant's Razorpay integration, written with the official Python SDK (PyPI `razorpay`),
run unchanged against a real API server and worker: only `base_url` differs. Payments are made
through our own API (the hosted checkout's side is the browser test's), and Razorpay-format
webhooks are received by a local receiver and verified with the SDK's own helper."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest
import razorpay
from razorpay.errors import BadRequestError

from gateway import merchants
from tests import processes
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

T = TypeVar("T")

# Refunds are processed a moment after they are made, not the default 3-5 s.
FAST = {"GATEWAY_REFUND_DELAY_MIN": "300", "GATEWAY_REFUND_DELAY_MAX": "500"}


def _until(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _pay(base: str, classic: dict[str, str], order_id: str) -> str:
    """A payment through our own API, as the hosted checkout makes one."""
    r = httpx.post(
        f"{base}/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "asha@okbank"},
        headers=classic,
    )
    assert r.status_code == 201, r.text
    payment_id: str = r.json()["id"]
    return payment_id


def test_the_official_python_sdk_runs_a_merchants_whole_flow(
    merchant: merchants.NewMerchant,
) -> None:
    classic = {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}
    with Receiver() as receiver, processes.api_server(FAST) as base, processes.worker():
        r = httpx.put(
            f"{base}/api/v1/webhooks/config",
            json={"url": receiver.url + "/ok", "format": "razorpay"},
            headers=classic,
        )
        assert r.status_code == 200 and r.json()["format"] == "razorpay"
        client = razorpay.Client(auth=(merchant.api_key, merchant.api_secret), base_url=base)

        # Orders: create, fetch, list with count/skip.
        order = client.order.create(
            {
                "amount": 50000,
                "currency": "INR",
                "receipt": "rcpt_1",
                "notes": {"k": "v"},
                "payment_capture": 0,
            }
        )
        assert (order["entity"], order["status"], order["amount_due"]) == (
            "order",
            "created",
            50000,
        )
        assert client.order.fetch(order["id"]) == order
        later = [client.order.create({"amount": "10000", "currency": "INR"}) for _ in range(2)]
        page = client.order.all({"count": 2, "skip": 1})
        assert page["entity"] == "collection" and page["count"] == 2
        assert [o["id"] for o in page["items"]] == [later[0]["id"], order["id"]]

        # A payment made on the order; authorized once the bank says yes (manual capture).
        payment_id = _pay(base, classic, order["id"])
        payment = _until(
            lambda: client.payment.fetch(payment_id), lambda p: p["status"] == "authorized"
        )
        assert payment["status"] == "authorized" and payment["captured"] is False
        # What the hosted checkout hands the merchant's handler, checked as the merchant does.
        public = httpx.get(
            f"{base}/api/v1/payments/{payment_id}/public", params={"key": merchant.api_key}
        ).json()
        assert client.utility.verify_payment_signature(
            {
                "razorpay_order_id": order["id"],
                "razorpay_payment_id": payment_id,
                "razorpay_signature": public["razorpay_signature"],
            }
        )
        assert [p["id"] for p in client.order.payments(order["id"])["items"]] == [payment_id]
        assert client.order.fetch(order["id"])["status"] == "attempted"
        assert payment_id in [p["id"] for p in client.payment.all({"count": 100})["items"]]

        # Capture: captured, the order paid.
        captured = client.payment.capture(payment_id, 50000, {"currency": "INR"})
        assert (captured["status"], captured["captured"]) == ("captured", True)
        paid = client.order.fetch(order["id"])
        assert (paid["status"], paid["amount_paid"], paid["amount_due"]) == ("paid", 50000, 0)

        # Partial and full refunds through payment.refund, one under X-Refund-Idempotency.
        key = {"X-Refund-Idempotency": f"idem-{payment_id}"}
        partial = client.payment.refund(
            payment_id, {"amount": 10000, "notes": {"why": "size"}, "speed": "normal"}, headers=key
        )
        assert (
            client.payment.refund(
                payment_id,
                {"amount": 10000, "notes": {"why": "size"}, "speed": "normal"},
                headers=key,
            )
            == partial
        )
        assert client.payment.fetch(payment_id)["refund_status"] == "partial"
        rest = client.payment.refund(payment_id)
        assert rest["amount"] == 40000
        refunded = client.payment.fetch(payment_id)
        assert (refunded["status"], refunded["refund_status"]) == ("refunded", "full")
        listed = client.payment.fetch_multiple_refund(payment_id)
        assert [r["id"] for r in listed["items"]] == [rest["id"], partial["id"]]
        assert client.payment.fetch_refund_id(payment_id, partial["id"])["amount"] == 10000
        assert client.refund.fetch(rest["id"])["payment_id"] == payment_id
        assert partial["id"] in [r["id"] for r in client.refund.all({"count": 10})["items"]]
        processed = _until(
            lambda: client.refund.fetch(partial["id"]), lambda r: r["status"] == "processed"
        )
        assert processed["status"] == "processed"

        # Auto-capture (Razorpay's default), and the older SDK call payment.refund(id, amount).
        auto = client.order.create({"amount": 20000, "currency": "INR", "payment_capture": True})
        auto_payment_id = _pay(base, classic, auto["id"])
        auto_payment = _until(
            lambda: client.payment.fetch(auto_payment_id), lambda p: p["status"] == "captured"
        )
        assert auto_payment["status"] == "captured"
        assert client.order.fetch(auto["id"])["status"] == "paid"
        assert client.payment.refund(auto_payment_id, 2000)["amount"] == 2000
        by_create = client.refund.create({"payment_id": auto_payment_id, "amount": "1000"})
        assert by_create["amount"] == 1000

        # Notes-only edits.
        assert client.order.edit(order["id"], {"notes": {"n": "1"}})["notes"] == {"n": "1"}
        assert client.payment.edit(payment_id, {"notes": {"n": "2"}})["notes"] == {"n": "2"}
        assert client.refund.edit(rest["id"], {"notes": {"n": "3"}})["notes"] == {"n": "3"}

        # BadRequestError for unknown ids, bad input and bad credentials.
        with pytest.raises(BadRequestError, match="The id provided does not exist"):
            client.order.fetch("order_DoesNotExist1234")
        with pytest.raises(BadRequestError, match="The id provided does not exist"):
            client.payment.fetch("pay_DoesNotExist12345")
        with pytest.raises(BadRequestError, match="amount"):
            client.order.create({"amount": "ten", "currency": "INR"})
        with pytest.raises(BadRequestError, match="count"):
            client.order.all({"count": 101})
        with pytest.raises(BadRequestError, match="Authentication failed"):
            razorpay.Client(auth=(merchant.api_key, "wrong"), base_url=base).order.all()
        # A trailing-slash base_url makes the SDK ask for //v1/...: answered all the same.
        slashed = razorpay.Client(auth=(merchant.api_key, merchant.api_secret), base_url=base + "/")
        assert slashed.order.fetch(order["id"])["id"] == order["id"]

        expected = {
            payment_id: ["payment.authorized", "payment.captured", "order.paid"],
            auto_payment_id: ["payment.authorized", "payment.captured", "order.paid"],
            partial["id"]: ["refund.created", "refund.processed"],
            rest["id"]: ["refund.created", "refund.processed"],
        }

        def by_resource() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for request in receiver.on("/ok"):
                body = json.loads(request.body)
                entity = body["payload"].get(body["contains"][0], {}).get("entity", {})
                found.setdefault(entity.get("id", ""), []).append(body["event"])
            return found

        received = _until(
            by_resource,
            lambda f: all(sorted(f.get(k, [])) == sorted(v) for k, v in expected.items()),
        )
    for resource, events in expected.items():
        assert sorted(received.get(resource, [])) == sorted(events), received
    event_ids = set()
    for request in receiver.on("/ok"):
        assert client.utility.verify_webhook_signature(
            request.body.decode(), request.headers["x-razorpay-signature"], merchant.webhook_secret
        )
        body = json.loads(request.body)
        assert body["entity"] == "event" and body["account_id"] == "acc_" + merchant.id.hex
        event_ids.add(request.headers["x-razorpay-event-id"])
    assert len(event_ids) == len(receiver.on("/ok"))
