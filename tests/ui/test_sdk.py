"""checkout.js on a merchant page served from a different origin than the checkout app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.ui.conftest import Stack

pytestmark = pytest.mark.ui

MODAL = '[data-test-id="payment-modal"]'
IFRAME = '[data-test-id="payment-iframe"]'
CLOSE = '[data-test-id="close-modal-button"]'

OPEN_SDK = """orderId => {
    window.gateway = new PaymentGateway({
        key: "key_test_abc123",
        orderId,
        onSuccess: data => window.events.push({type: "success", data}),
        onFailure: data => window.events.push({type: "failure", data}),
        onClose: () => window.events.push({type: "close"}),
    });
    window.gateway.open();
}"""


@pytest.fixture
def shop(page: Page, stack: Stack) -> Iterator[Page]:
    page.goto(f"{stack.merchant}/shop.html")
    assert page.evaluate("typeof window.PaymentGateway") == "function"
    yield page


def events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.events")
    return result


def test_customer_pays_inside_the_modal_and_on_success_gets_the_payment_id(
    shop: Page, stack: Stack, output_dir: Path
) -> None:
    order_id = stack.new_order(25000)
    shop.evaluate(OPEN_SDK, order_id)

    modal = shop.locator(MODAL)
    expect(modal).to_be_visible()
    src = shop.locator(IFRAME).get_attribute("src") or ""
    assert src.startswith(f"{stack.checkout}/checkout?")
    assert f"order_id={order_id}" in src and "embedded=true" in src
    assert "parent_origin=" + stack.merchant.replace(":", "%3A").replace("/", "%2F") in src
    assert shop.evaluate("getComputedStyle(document.body).overflow") == "hidden"

    frame = shop.frame_locator(IFRAME)
    expect(frame.locator('[data-test-id="order-amount"]')).to_have_text("₹250.00")
    shop.screenshot(path=str(output_dir / "sdk-modal-1280.png"))
    frame.locator('[data-test-id="vpa-input"]').fill("asha@okbank")
    frame.locator('[data-test-id="pay-button"]').click()

    expect(modal).to_have_count(0, timeout=20_000)
    got = events(shop)
    assert [e["type"] for e in got] == ["success", "close"]
    data = got[0]["data"]
    assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", data["paymentId"])
    assert data["orderId"] == order_id and data["amount"] == 25000
    assert stack.payment(data["paymentId"])["status"] == "success"
    assert shop.evaluate("getComputedStyle(document.body).overflow") != "hidden"


def test_close_button_and_escape_close_the_modal_and_call_on_close(
    shop: Page, stack: Stack, output_dir: Path
) -> None:
    order_id = stack.new_order()
    shop.set_viewport_size({"width": 360, "height": 740})
    shop.evaluate(OPEN_SDK, order_id)
    expect(shop.locator(MODAL)).to_be_visible()
    expect(shop.frame_locator(IFRAME).locator('[data-test-id="pay-button"]')).to_be_visible()
    shop.screenshot(path=str(output_dir / "sdk-modal-360.png"))
    shop.click(CLOSE)
    expect(shop.locator(MODAL)).to_have_count(0)
    assert events(shop) == [{"type": "close"}]

    # Escape with the focus on the merchant page...
    shop.evaluate("window.gateway.open()")
    expect(shop.locator(MODAL)).to_be_visible()
    shop.locator(MODAL).click(position={"x": 5, "y": 5})  # the backdrop: focus leaves the frame
    expect(shop.locator(MODAL)).to_be_visible()
    shop.keyboard.press("Escape")
    expect(shop.locator(MODAL)).to_have_count(0)

    # ...and inside the checkout frame, where only the page can see the key.
    shop.evaluate("window.gateway.open()")
    vpa = shop.frame_locator(IFRAME).locator('[data-test-id="vpa-input"]')
    vpa.click()
    expect(vpa).to_be_focused()
    # Key down only while the frame exists: it is removed mid-keystroke, and a key-up sent to
    # the destroyed out-of-process frame can leave Chromium's input ack (and the test) hanging.
    shop.keyboard.down("Escape")
    expect(shop.locator(MODAL)).to_have_count(0)
    shop.keyboard.up("Escape")
    assert events(shop) == [{"type": "close"}] * 3

    # One modal at a time: opening a second closes the first.
    shop.evaluate(OPEN_SDK, order_id)
    shop.evaluate(OPEN_SDK, order_id)
    expect(shop.locator(MODAL)).to_have_count(1)
    shop.evaluate("window.gateway.close()")
    expect(shop.locator(MODAL)).to_have_count(0)


def test_forged_messages_from_other_windows_are_ignored(shop: Page, stack: Stack) -> None:
    order_id = stack.new_order()
    shop.evaluate(OPEN_SDK, order_id)
    frame = shop.frame_locator(IFRAME)
    expect(frame.locator('[data-test-id="vpa-input"]')).to_be_visible()
    forged = {"type": "payment_success", "data": {"paymentId": "pay_forgedforgedforg"}}

    # The merchant page itself (wrong origin, wrong window).
    shop.evaluate("m => window.postMessage(m, '*')", forged)
    # A popup on the checkout origin: right origin, but not the SDK's iframe.
    with shop.expect_popup() as popup_info:
        shop.evaluate("url => window.open(url, 'forger')", f"{stack.checkout}/checkout.js")
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.evaluate("m => window.opener.postMessage(m, '*')", forged)
    popup.evaluate("window.opener.postMessage({type: 'close_modal'}, '*')")
    popup.close()
    # The SDK's own iframe, navigated away to a third origin: right window, wrong origin.
    third = stack.merchant.replace("localhost", "127.0.0.1") + "/shop.html"
    with shop.expect_event("framenavigated", predicate=lambda f: f.url == third) as nav:
        shop.evaluate(
            "url => { document.querySelector('[data-test-id=payment-iframe]').src = url; }", third
        )
    intruder = nav.value
    intruder.wait_for_load_state()
    intruder.evaluate("m => window.parent.postMessage(m, '*')", forged)
    shop.wait_for_timeout(300)

    expect(shop.locator(MODAL)).to_be_visible()
    assert events(shop) == []


def test_missing_key_or_order_id_throws(shop: Page) -> None:
    errors = shop.evaluate(
        """() => [{orderId: "order_x"}, {key: "key_test_abc123"}, {key: "", orderId: "o"},
                  undefined].map(options => {
            try { new PaymentGateway(options); return "no error"; }
            catch (e) { return e.message; }
        })"""
    )
    assert len(errors) == 4
    assert "key" in errors[0] and "orderId" in errors[1] and "key" in errors[2]
    assert all(e != "no error" for e in errors)
    assert shop.locator(MODAL).count() == 0


def test_checkout_frame_posts_only_to_the_parent_origin_it_was_given(
    shop: Page, stack: Stack
) -> None:
    order_id = stack.new_order()
    shop.evaluate(
        """() => window.addEventListener("message", e =>
               window.events.push({origin: e.origin, data: e.data}))"""
    )
    elsewhere = stack.merchant.replace("localhost", "127.0.0.1")
    for name, parent_origin in (("wrong", elsewhere), ("right", stack.merchant)):
        src = (
            f"{stack.checkout}/checkout?order_id={order_id}&embedded=true"
            f"&parent_origin={parent_origin}"
        )
        shop.evaluate(
            """([name, src]) => { const f = document.createElement("iframe");
               f.name = name; f.src = src; document.body.prepend(f); }""",
            [name, src],
        )
        vpa = shop.frame_locator(f'iframe[name="{name}"]').locator('[data-test-id="vpa-input"]')
        vpa.click()
        expect(vpa).to_be_focused()
        shop.keyboard.press("Escape")  # the embedded page asks its parent to close the modal
    shop.wait_for_function("window.events.length > 0")
    shop.wait_for_timeout(300)
    assert events(shop) == [{"origin": stack.checkout, "data": {"type": "close_modal"}}]


OPEN_SDK_AS = """([key, orderId]) => {
    window.gateway = new PaymentGateway({
        key,
        orderId,
        onSuccess: data => window.events.push({type: "success", data}),
        onFailure: data => window.events.push({type: "failure", data}),
        onClose: () => window.events.push({type: "close"}),
    });
    window.gateway.open();
}"""
RECORD_MESSAGES = """() => { window.messages = [];
    window.addEventListener("message", e => window.messages.push({origin: e.origin, data: e.data}));
}"""


def test_sdk_opened_with_another_merchants_key_shows_an_error_and_never_succeeds(
    shop: Page, stack: Stack
) -> None:
    order_id = stack.new_order()  # the seeded merchant's
    other = stack.new_merchant()
    shop.evaluate(OPEN_SDK_AS, [other["X-Api-Key"], order_id])

    frame = shop.frame_locator(IFRAME)
    expect(frame.locator('[data-test-id="order-unavailable"]')).to_contain_text(
        "couldn't find this order"
    )
    expect(frame.locator('[data-test-id="vpa-input"]')).to_have_count(0)
    expect(frame.locator('[data-test-id="order-amount"]')).not_to_contain_text("₹")
    shop.wait_for_timeout(500)
    assert events(shop) == []
    expect(shop.locator(MODAL)).to_be_visible()


def _try_to_pay(page: Page, iframe: str) -> bool:
    """Pay inside the checkout frame as a customer would, if the frame shows a form at all."""
    vpa = page.frame_locator(iframe).locator('[data-test-id="vpa-input"]')
    try:
        vpa.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return False
    vpa.fill("victim@okbank")
    page.frame_locator(iframe).locator('[data-test-id="pay-button"]').click()
    return True


def test_page_on_an_origin_the_merchant_did_not_allow_gets_nothing_posted(
    page: Page, stack: Stack
) -> None:
    merchant = stack.new_merchant()
    stack.allow_origins(merchant, [stack.merchant])
    order_id = stack.new_order(auth=merchant)
    key = merchant["X-Api-Key"]

    # The merchant's own site: the checkout runs (the configuration works).
    page.goto(f"{stack.merchant}/shop.html")
    page.evaluate(OPEN_SDK_AS, [key, order_id])
    expect(page.frame_locator(IFRAME).locator('[data-test-id="vpa-input"]')).to_be_visible()
    page.evaluate("window.gateway.close()")

    # Another origin copies the merchant's integration (key and order id are both public in
    # the merchant's page) and also frames the checkout itself, claiming the merchant's origin
    # as the parent. Neither frame may run, so no payment result can reach this page.
    elsewhere = stack.merchant.replace("localhost", "127.0.0.1")
    page.goto(f"{elsewhere}/shop.html")
    page.evaluate(RECORD_MESSAGES)
    page.evaluate(OPEN_SDK_AS, [key, order_id])
    src = (
        f"{stack.checkout}/checkout?order_id={order_id}&embedded=true&key={key}"
        f"&parent_origin={stack.merchant}"
    )
    page.evaluate(
        """src => { const f = document.createElement("iframe"); f.name = "forged";
           f.src = src; document.body.prepend(f); }""",
        src,
    )
    paid = [_try_to_pay(page, IFRAME), _try_to_pay(page, 'iframe[name="forged"]')]
    if any(paid):
        page.wait_for_timeout(6_000)  # processing (1 s) and the page's 2 s poll
    assert page.evaluate("window.messages") == []
    assert events(page) == []
    assert paid == [False, False]
