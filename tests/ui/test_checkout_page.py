"""The hosted checkout page in a real browser against the real API, checkout app and worker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import Stack

pytestmark = pytest.mark.ui


def tid(name: str) -> str:
    return f'[data-test-id="{name}"]'


def open_checkout(page: Page, stack: Stack, order_id: str) -> None:
    page.goto(f"{stack.checkout}/checkout?order_id={order_id}")
    expect(page.locator(tid("order-id"))).to_have_text(order_id)


def test_upi_payment_reaches_success_with_the_payment_id(page: Page, stack: Stack) -> None:
    order_id = stack.new_order(50000)
    open_checkout(page, stack, order_id)
    expect(page.locator(tid("order-amount"))).to_have_text("₹500.00")

    page.click(tid("method-upi"))
    page.fill(tid("vpa-input"), "asha@okbank")
    page.click(tid("pay-button"))

    expect(page.locator(tid("processing-state"))).to_be_visible()
    expect(page.locator(tid("processing-message"))).not_to_be_empty()
    expect(page.locator(tid("success-state"))).to_be_visible(timeout=20_000)
    payment_id = page.locator(tid("payment-id")).inner_text()
    assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", payment_id)
    expect(page.locator(tid("success-message"))).not_to_be_empty()
    payment = stack.payment(payment_id)
    assert payment["order_id"] == order_id
    assert payment["status"] == "success"
    assert payment["method"] == "upi" and payment["vpa"] == "asha@okbank"


def test_card_payment_groups_digits_detects_network_and_succeeds(page: Page, stack: Stack) -> None:
    order_id = stack.new_order(12345)
    open_checkout(page, stack, order_id)
    expect(page.locator(tid("order-amount"))).to_have_text("₹123.45")

    page.click(tid("method-card"))
    number = page.locator(tid("card-number-input"))
    # Typed key by key, like a customer: the grouping and the network follow each keystroke.
    number.press_sequentially("5555555555554444")
    expect(number).to_have_value("5555 5555 5555 4444")
    expect(page.locator(tid("card-network"))).to_have_text(re.compile("mastercard", re.I))
    number.fill("")
    number.press_sequentially("378282246310005")
    expect(number).to_have_value("3782 822463 10005")
    expect(page.locator(tid("card-network"))).to_have_text(re.compile("amex", re.I))
    number.fill("")
    number.press_sequentially("4111111111111111")
    expect(number).to_have_value("4111 1111 1111 1111")
    expect(page.locator(tid("card-network"))).to_have_text(re.compile("visa", re.I))

    page.locator(tid("expiry-input")).press_sequentially("1299")
    expect(page.locator(tid("expiry-input"))).to_have_value("12/99")
    page.fill(tid("cvv-input"), "123")
    page.fill(tid("cardholder-name-input"), "Asha Rao")
    page.click(tid("pay-button"))

    expect(page.locator(tid("success-state"))).to_be_visible(timeout=20_000)
    payment = stack.payment(page.locator(tid("payment-id")).inner_text())
    assert payment["status"] == "success"
    assert payment["method"] == "card"
    assert (payment["card_network"], payment["card_last4"]) == ("visa", "1111")


def test_invalid_vpa_shows_the_server_error_and_retry_keeps_the_input(
    page: Page, stack: Stack, output_dir: Path
) -> None:
    open_checkout(page, stack, stack.new_order())
    page.click(tid("method-upi"))
    page.fill(tid("vpa-input"), "not a vpa")
    page.click(tid("pay-button"))

    expect(page.locator(tid("error-state"))).to_be_visible()
    expect(page.locator(tid("error-message"))).to_have_text("Invalid VPA format")
    page.screenshot(path=str(output_dir / "checkout-error-1280.png"))

    page.click(tid("retry-button"))
    expect(page.locator(tid("upi-form"))).to_be_visible()
    expect(page.locator(tid("error-state"))).to_have_count(0)
    expect(page.locator(tid("vpa-input"))).to_have_value("not a vpa")
    expect(page.locator(tid("vpa-input"))).to_be_focused()


def test_expired_card_shows_the_server_error_and_retry_keeps_the_input(
    page: Page, stack: Stack
) -> None:
    open_checkout(page, stack, stack.new_order())
    page.click(tid("method-card"))
    page.fill(tid("card-number-input"), "4111111111111111")
    page.fill(tid("expiry-input"), "01/20")
    page.fill(tid("cvv-input"), "123")
    page.fill(tid("cardholder-name-input"), "Asha Rao")
    page.click(tid("pay-button"))

    expect(page.locator(tid("error-state"))).to_be_visible()
    expect(page.locator(tid("error-message"))).to_have_text("Card has expired")

    page.click(tid("retry-button"))
    expect(page.locator(tid("card-form"))).to_be_visible()
    expect(page.locator(tid("card-number-input"))).to_have_value("4111 1111 1111 1111")
    expect(page.locator(tid("expiry-input"))).to_have_value("01/20")
    expect(page.locator(tid("cardholder-name-input"))).to_have_value("Asha Rao")
    expect(page.locator(tid("expiry-input"))).to_be_focused()


def test_unknown_or_paid_order_shows_a_message_instead_of_a_form(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.checkout}/checkout?order_id=order_doesnotexist00")
    expect(page.locator(tid("order-unavailable"))).to_contain_text("couldn't find this order")
    expect(page.locator(tid("payment-methods"))).to_be_hidden()
    expect(page.locator(tid("pay-button"))).to_have_count(0)

    order_id = stack.new_order()
    open_checkout(page, stack, order_id)
    page.fill(tid("vpa-input"), "asha@okbank")
    page.click(tid("pay-button"))
    expect(page.locator(tid("success-state"))).to_be_visible(timeout=20_000)
    page.reload()
    expect(page.locator(tid("order-unavailable"))).to_contain_text("already been paid")
    expect(page.locator(tid("order-amount"))).to_have_text("₹500.00")
    expect(page.locator(tid("pay-button"))).to_have_count(0)


def test_keyboard_alone_pays_and_the_page_fits_phone_and_desktop(
    browser: Browser, stack: Stack, output_dir: Path
) -> None:
    order_id = stack.new_order()
    for width, height in ((360, 740), (1280, 800)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        open_checkout(page, stack, order_id)
        page.click(tid("method-card"))
        page.fill(tid("card-number-input"), "6080000000000000")
        expect(page.locator(tid("card-network"))).to_have_text(re.compile("rupay", re.I))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        unlabeled = page.evaluate(
            "[...document.querySelectorAll('input')]"
            ".filter(i => !i.labels.length || !i.labels[0].innerText.trim()).map(i => i.id)"
        )
        assert unlabeled == []
        assert overflow <= 0, f"horizontal scroll at {width}px"
        page.screenshot(path=str(output_dir / f"checkout-{width}.png"), full_page=True)
        context.close()

    # Keyboard only, from the top of the page: Tab to the card method, Enter, fill, submit.
    page = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    open_checkout(page, stack, order_id)
    page.keyboard.press("Tab")
    expect(page.locator(tid("method-upi"))).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator(tid("method-card"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(tid("card-number-input"))).to_be_focused()
    page.keyboard.type("4111111111111111")
    page.keyboard.press("Tab")
    expect(page.locator(tid("expiry-input"))).to_be_focused()
    page.keyboard.type("1299")
    page.keyboard.press("Tab")
    expect(page.locator(tid("cvv-input"))).to_be_focused()
    page.keyboard.type("123")
    page.keyboard.press("Tab")
    expect(page.locator(tid("cardholder-name-input"))).to_be_focused()
    page.keyboard.type("Asha Rao")
    page.keyboard.press("Enter")
    expect(page.locator(tid("success-state"))).to_be_visible(timeout=20_000)
    page.screenshot(path=str(output_dir / "checkout-success-360.png"))
    page.context.close()
