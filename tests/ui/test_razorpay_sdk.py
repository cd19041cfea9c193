"""`new Razorpay(options)` from our checkout.js, on a merchant page of another origin, as a page
written for Razorpay's Standard Checkout uses it (issue 13): the handler's signature is checked
with the official Python SDK, failures reach `payment.failed` in Razorpay's shape, closing calls
`modal.ondismiss`, and the merchant's allowed origins bind it exactly as they bind
PaymentGateway."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import razorpay
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.ui.conftest import SEEDED_AUTH, Stack

pytestmark = pytest.mark.ui

MODAL = '[data-test-id="payment-modal"]'
IFRAME = '[data-test-id="payment-iframe"]'
CLOSE = '[data-test-id="close-modal-button"]'
PAY_ID = re.compile(r"pay_[A-Za-z0-9]{16}")

# Razorpay's official sample, with our key and order, plus options our page cannot use (they
# must be ignored, not rejected). Every callback records what it got in window.events.
OPEN_RAZORPAY = """([key, orderId, extra]) => {
    const options = {
        key,
        amount: "30000",
        currency: "INR",
        name: "Acme Corp",
        description: "Test Transaction",
        image: "https://example.com/your_logo",
        order_id: orderId,
        handler: response => window.events.push({type: "handler", response}),
        prefill: {name: "Gaurav Kumar", email: "gaurav.kumar@example.com",
                  contact: "9000090000"},
        notes: {address: "Razorpay Corporate Office"},
        theme: {color: "#3399cc"},
        modal: {ondismiss: () => window.events.push({type: "dismiss"})},
        callback_url: "https://example.com/ignored",
        retry: {enabled: true, max_count: 4},
        ...extra,
    };
    window.rzp = new Razorpay(options);
    window.rzp.on("payment.failed", response => window.events.push({type: "failed", response}));
    window.rzp.open();
}"""


def events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.events")
    return result


@pytest.fixture
def merchant(stack: Stack) -> dict[str, str]:
    """A merchant of our own that allows exactly the merchant page's origin."""
    credentials = stack.new_merchant()
    stack.allow_origins(credentials, [stack.merchant])
    return credentials


@pytest.fixture
def shop(page: Page, stack: Stack) -> Iterator[Page]:
    page.goto(f"{stack.merchant}/shop.html")
    assert page.evaluate("typeof window.Razorpay") == "function"
    assert page.evaluate("typeof window.PaymentGateway") == "function"
    yield page


def _payment(stack: Stack, auth: dict[str, str], payment_id: str) -> dict[str, Any]:
    r = httpx.get(f"{stack.api}/api/v1/payments/{payment_id}", headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_upi_payment_hands_handler_a_signature_the_official_sdk_verifies(
    shop: Page, stack: Stack, merchant: dict[str, str], output_dir: Path
) -> None:
    key, secret = merchant["X-Api-Key"], merchant["X-Api-Secret"]
    order_id = stack.new_order(30000, auth=merchant)
    shop.evaluate(OPEN_RAZORPAY, [key, order_id, {"prefill": {"vpa": "asha@okbank"}}])

    expect(shop.locator(MODAL)).to_be_visible()
    src = shop.locator(IFRAME).get_attribute("src") or ""
    assert src.startswith(f"{stack.checkout}/checkout?") and f"key={key}" in src
    frame = shop.frame_locator(IFRAME)
    expect(frame.locator('[data-test-id="order-amount"]')).to_have_text("₹300.00")
    # prefill.vpa fills our UPI field; theme.color tints the pay button.
    expect(frame.locator('[data-test-id="vpa-input"]')).to_have_value("asha@okbank")
    pay = frame.locator('[data-test-id="pay-button"]')
    expect(pay).to_have_css("background-color", "rgb(51, 153, 204)")
    shop.screenshot(path=str(output_dir / "razorpay-modal-1280.png"))
    pay.click()

    expect(shop.locator(MODAL)).to_have_count(0, timeout=20_000)
    got = events(shop)
    assert [e["type"] for e in got] == ["handler"]  # a success is not a dismissal
    response = got[0]["response"]
    assert set(response) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert PAY_ID.fullmatch(response["razorpay_payment_id"])
    assert response["razorpay_order_id"] == order_id
    # What the merchant's server does with it, with the official SDK and its own secret...
    client = razorpay.Client(auth=(key, secret))
    assert client.utility.verify_payment_signature(response) is True
    # ...and the signature is this merchant's, bound to this order.
    other = razorpay.Client(auth=(SEEDED_AUTH["X-Api-Key"], SEEDED_AUTH["X-Api-Secret"]))
    with pytest.raises(razorpay.errors.SignatureVerificationError):
        other.utility.verify_payment_signature(response)
    with pytest.raises(razorpay.errors.SignatureVerificationError):
        client.utility.verify_payment_signature(
            {**response, "razorpay_order_id": stack.new_order(auth=merchant)}
        )
    payment = _payment(stack, merchant, response["razorpay_payment_id"])
    assert payment["status"] == "success" and payment["order_id"] == order_id


def test_card_prefill_fills_only_the_fields_our_page_has(
    shop: Page, stack: Stack, merchant: dict[str, str]
) -> None:
    order_id = stack.new_order(auth=merchant)
    shop.evaluate(OPEN_RAZORPAY, [merchant["X-Api-Key"], order_id, {
        "prefill": {"name": "Gaurav Kumar", "method": "card", "email": "g@example.com",
                    "contact": "9000090000"},
        # Not a hex colour: it would end up in a CSS value, so it is dropped whole.
        "theme": {"color": "#3399ccZZ"}}])  # fmt: skip
    frame = shop.frame_locator(IFRAME)
    expect(frame.locator('[data-test-id="card-form"]')).to_be_visible()
    expect(frame.locator('[data-test-id="cardholder-name-input"]')).to_have_value("Gaurav Kumar")
    expect(frame.locator('[data-test-id="card-number-input"]')).to_have_value("")
    expect(frame.locator('[data-test-id="pay-button"]')).to_have_css(
        "background-color",
        "rgb(31, 94, 255)",  # the page's own --brand
    )
    # No email or phone field exists on our page, and nothing else carries them.
    src = shop.locator(IFRAME).get_attribute("src") or ""
    assert "example.com" not in src and "9000090000" not in src
    # The customer's name rides in the fragment, which no server receives.
    assert "Gaurav" not in src.split("#")[0]
    assert "color" not in src and "3399" not in src
    shop.evaluate("window.rzp.close()")


def test_closing_without_paying_calls_ondismiss(shop: Page, stack: Stack) -> None:
    order_id = stack.new_order()
    shop.evaluate(OPEN_RAZORPAY, [SEEDED_AUTH["X-Api-Key"], order_id, {}])
    expect(shop.frame_locator(IFRAME).locator('[data-test-id="pay-button"]')).to_be_visible()
    shop.click(CLOSE)
    expect(shop.locator(MODAL)).to_have_count(0)
    assert events(shop) == [{"type": "dismiss"}]

    # Escape inside the checkout frame (the page asks its parent to close).
    shop.evaluate("window.rzp.open()")
    vpa = shop.frame_locator(IFRAME).locator('[data-test-id="vpa-input"]')
    vpa.click()
    expect(vpa).to_be_focused()
    # Key down only while the frame exists (see test_sdk.py: a key-up sent to the removed frame
    # can hang Chromium's input ack).
    shop.keyboard.down("Escape")
    expect(shop.locator(MODAL)).to_have_count(0)
    shop.keyboard.up("Escape")

    # The merchant's own rzp.close().
    shop.evaluate("window.rzp.open()")
    expect(shop.locator(MODAL)).to_be_visible()
    shop.evaluate("window.rzp.close()")
    expect(shop.locator(MODAL)).to_have_count(0)
    assert events(shop) == [{"type": "dismiss"}] * 3


def test_missing_key_or_order_id_throws_and_unknown_options_do_not(shop: Page) -> None:
    outcomes = shop.evaluate(
        """() => [{order_id: "order_x"}, {key: "", order_id: "order_x"},
                  {key: "key_test_abc123"}, {key: "key_test_abc123", order_id: " "},
                  undefined,
                  {key: "key_test_abc123", order_id: "order_x", theme: {color: "red;x"},
                   prefill: "nonsense", modal: 5, handler: "not a function",
                   readonly: {email: true}, hidden: {contact: true}, timeout: 30}
        ].map(options => {
            try { new Razorpay(options); return "no error"; }
            catch (e) { return (e instanceof Error ? "Error: " : "?") + e.message; }
        })"""
    )
    assert outcomes[0] == outcomes[1] == outcomes[4] == "Error: No key passed"
    assert outcomes[2].startswith("Error: No order_id passed")
    assert outcomes[3].startswith("Error: No order_id passed")
    assert outcomes[5] == "no error"
    assert shop.locator(MODAL).count() == 0


def _shows_a_form(page: Page) -> bool:
    try:
        page.frame_locator(IFRAME).locator('[data-test-id="vpa-input"]').wait_for(
            state="visible", timeout=5_000
        )
    except PlaywrightTimeout:
        return False
    return True


def test_origins_the_merchant_did_not_allow_get_no_checkout(
    page: Page, stack: Stack, merchant: dict[str, str]
) -> None:
    key = merchant["X-Api-Key"]
    order_id = stack.new_order(auth=merchant)
    # The merchant's own site: the checkout runs.
    page.goto(f"{stack.merchant}/shop.html")
    page.evaluate(OPEN_RAZORPAY, [key, order_id, {}])
    assert _shows_a_form(page)
    page.evaluate("window.rzp.close()")

    # Another origin copying the integration (key and order id are public): no form to pay.
    elsewhere = stack.merchant.replace("localhost", "127.0.0.1")
    page.goto(f"{elsewhere}/shop.html")
    page.evaluate(OPEN_RAZORPAY, [key, order_id, {}])
    assert not _shows_a_form(page)
    assert events(page) == []


def test_declined_payment_reaches_payment_failed_in_razorpays_shape(
    page: Page, declining_stack: Stack
) -> None:
    stack = declining_stack
    order_id = stack.new_order(20000)
    page.goto(f"{stack.merchant}/shop.html")
    page.evaluate(OPEN_RAZORPAY, [SEEDED_AUTH["X-Api-Key"], order_id, {}])
    frame = page.frame_locator(IFRAME)
    frame.locator('[data-test-id="vpa-input"]').fill("asha@okbank")
    frame.locator('[data-test-id="pay-button"]').click()
    expect(frame.locator('[data-test-id="error-state"]')).to_be_visible(timeout=20_000)
    page.wait_for_function("window.events.length > 0")

    got = events(page)
    assert [e["type"] for e in got] == ["failed"]
    error = got[0]["response"]["error"]
    assert set(error) == {"code", "description", "source", "step", "reason", "metadata"}
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert error["reason"] == "payment_failed"
    assert error["source"] == "bank" and error["step"] == "payment_authorization"
    assert isinstance(error["description"], str) and error["description"]
    assert error["metadata"]["order_id"] == order_id
    payment_id = error["metadata"]["payment_id"]
    assert PAY_ID.fullmatch(payment_id)
    assert stack.payment(payment_id)["status"] == "failed"

    # The modal stays for a retry; closing it now is a dismissal.
    expect(page.locator(MODAL)).to_be_visible()
    page.click(CLOSE)
    expect(page.locator(MODAL)).to_have_count(0)
    assert [e["type"] for e in events(page)] == ["failed", "dismiss"]
