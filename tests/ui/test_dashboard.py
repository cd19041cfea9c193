"""The dashboard in a real browser (Debian's Chromium via Playwright) against real processes: the
dashboard and the API under uvicorn, a procrastinate worker, and a local webhook receiver.
Screenshots go to test-output/ for a human look."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from gateway import db, merchants, settings
from tests import processes, tools
from tests.helpers import auth_of, new_merchant, wait_until
from tests.receiver import Receiver

pytestmark = [pytest.mark.ui, pytest.mark.e2e]

SHOTS = processes.ROOT / "test-output"
PASSWORD = "ui-test-password"
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def dashboard_server(api_url: str) -> Iterator[str]:
    env = {"GATEWAY_PUBLIC_API_URL": api_url}
    with processes.web_app(processes.DASHBOARD_FACTORY, env) as base:
        yield base


@pytest.fixture
def stack(database_url: str) -> Iterator[tuple[str, str, Receiver]]:
    """On the test's own database (e2e: `database_url` is DATABASE_URL for these processes)."""
    with (
        Receiver() as receiver,
        processes.worker(),
        processes.api_server() as api,
        dashboard_server(api) as dash,
    ):
        yield api, dash, receiver


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = tools.require_chromium()
    async with async_playwright() as p:
        p.selectors.set_test_id_attribute("data-test-id")
        b = await p.chromium.launch(executable_path=executable, headless=True, args=CHROME_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


async def _text(page: Page, test_id: str) -> str:
    return (await page.get_by_test_id(test_id).first.inner_text()).strip()


def _rupees(paise: int) -> str:
    from gateway.dashboard import web

    return web.rupees(paise)


async def test_merchant_day_in_the_dashboard(
    stack: tuple[str, str, Receiver], browser: Browser, conn: db.Conn
) -> None:
    api, dash, receiver = stack
    m = await new_merchant(conn, name="Chai & Co", password=PASSWORD)
    auth = auth_of(m)

    # Three payments through the real API; the worker settles them.
    async with httpx.AsyncClient(base_url=api, headers=auth, timeout=10) as c:
        bodies: list[tuple[int, dict[str, Any]]] = [
            (50000, {"method": "upi", "vpa": "asha@okbank"}),
            (123450, {"method": "upi", "vpa": "ravi@okbank"}),
            (
                99900,
                {
                    "method": "card",
                    "card": {
                        "number": "4111111111111111",
                        "expiry_month": "12",
                        "expiry_year": "2099",
                        "cvv": "123",
                        "holder_name": "Asha Rao",
                    },
                },
            ),
        ]
        for amount, body in bodies:
            order = (await c.post("/api/v1/orders", json={"amount": amount})).json()
            r = await c.post("/api/v1/payments", json={"order_id": order["id"], **body})
            assert r.status_code == 201, r.text

        async def settled() -> bool:
            page = (await c.get("/api/v1/payments?limit=100")).json()
            return all(p["status"] != "pending" for p in page["data"])

        await wait_until(settled)
        listing = (await c.get("/api/v1/payments?limit=100")).json()
    api_total = listing["total"]
    api_success = [p for p in listing["data"] if p["status"] == "success"]
    api_amount = sum(p["amount"] for p in api_success)
    api_rate = round(100 * len(api_success) / api_total)

    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

    # Without a session every page sends us to the login form.
    await page.goto(dash + "/dashboard/webhooks")
    assert "/login" in page.url
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.get_by_test_id("email-input").fill(m.email)
    await page.get_by_test_id("password-input").fill("not the password")
    await page.get_by_test_id("login-button").click()
    await expect(page.get_by_test_id("login-error")).to_have_text("Invalid email or password.")
    await _shot(page, "01-login-error")
    await page.get_by_test_id("password-input").fill(PASSWORD)
    await page.get_by_test_id("login-button").click()
    await page.wait_for_url("**/dashboard/webhooks")

    # Home: credentials and stats equal the API's own numbers.
    await page.goto(dash + "/dashboard")
    await expect(page.get_by_test_id("dashboard")).to_be_visible()
    assert await _text(page, "api-key") == m.api_key
    assert await _text(page, "api-secret") == m.api_secret
    assert await _text(page, "total-transactions") == str(api_total) == "3"
    assert await _text(page, "total-amount") == _rupees(api_amount)
    assert await _text(page, "success-rate") == f"{api_rate}%"
    local = await page.locator("time").count()
    assert local == 0  # home has no timestamps; transactions do (checked below)
    await _shot(page, "02-home")

    # Transactions → the newest payment's page.
    await page.get_by_role("link", name="Transactions").first.click()
    rows = page.get_by_test_id("transaction-row")
    await expect(rows).to_have_count(3)
    newest = listing["data"][0]
    first = rows.first
    assert await first.get_attribute("data-payment-id") == newest["id"]
    assert (await first.get_by_test_id("amount").inner_text()).strip() == _rupees(newest["amount"])
    created = first.get_by_test_id("created-at").locator("time")
    assert (await created.get_attribute("title") or "").endswith("UTC")
    await _shot(page, "03-transactions")
    await first.get_by_test_id("payment-id").get_by_role("link").click()
    await page.wait_for_url(f"**/dashboard/transactions/{newest['id']}")
    await expect(page.get_by_test_id("payment-details")).to_contain_text(newest["order_id"])

    # A partial refund (the confirmation dialog is accepted), as the API then reports it.
    full = newest["amount"]
    await page.get_by_test_id("refund-amount-input").fill("250.50")
    await page.get_by_test_id("refund-reason-input").fill("one item returned")
    await page.get_by_test_id("refund-button").click()
    await expect(page.get_by_text("Refund created.")).to_be_visible()
    refund_row = page.get_by_test_id("refund-row")
    await expect(refund_row).to_have_count(1)
    await expect(refund_row.get_by_test_id("refund-amount")).to_have_text("₹250.50")
    await expect(page.get_by_test_id("refund-available")).to_have_text(_rupees(full - 25050))
    async with httpx.AsyncClient(base_url=api, headers=auth, timeout=10) as c:
        listed = (await c.get(f"/api/v1/refunds?payment_id={newest['id']}")).json()["data"]
        payment_now = (await c.get(f"/api/v1/payments/{newest['id']}")).json()
    assert [(r["amount"], r["reason"]) for r in listed] == [(25050, "one item returned")]
    assert await refund_row.get_attribute("data-refund-id") == listed[0]["id"]
    assert payment_now["amount_refunded"] == 25050
    # More than what is left: the API's own message, nothing created.
    await page.get_by_test_id("refund-amount-input").fill(f"{full / 100:.2f}")
    await page.get_by_test_id("refund-button").click()
    await expect(page.get_by_test_id("refund-error")).to_have_text(
        "Refund amount exceeds available amount"
    )
    await expect(page.get_by_test_id("refund-row")).to_have_count(1)
    await _shot(page, "04-payment")

    # Webhooks: a bad URL is explained, a good one saved.
    await page.goto(dash + "/webhooks")
    await page.wait_for_url("**/dashboard/webhooks")
    await page.get_by_test_id("webhook-url-input").fill("ftp://example.com/hook")
    await page.get_by_test_id("save-webhook-button").click()
    await expect(page.get_by_test_id("webhook-url-error")).to_contain_text("http or https")
    await page.get_by_test_id("webhook-url-input").fill(receiver.url + "/ok")
    await page.get_by_test_id("save-webhook-button").click()
    await expect(page.get_by_text("Webhook URL saved.")).to_be_visible()
    await expect(page.get_by_test_id("webhook-url-input")).to_have_value(receiver.url + "/ok")

    # A test webhook arrives at the receiver and shows up in the log as delivered.
    await page.get_by_test_id("test-webhook-button").click()
    # Other rows may appear meanwhile (the refund above is processed by now and its event is
    # delivered too), so the test event's row is picked by its event name.
    items = page.get_by_test_id("webhook-log-item")
    item = items.filter(has=page.get_by_test_id("webhook-event").filter(has_text="webhook.test"))
    await expect(item).to_have_count(1)
    # The log refreshes itself while a delivery is pending.
    await expect(item.get_by_test_id("webhook-status")).to_have_text("success", timeout=15000)
    await expect(item.get_by_test_id("webhook-attempts")).to_have_text("1")
    await expect(item.get_by_test_id("webhook-response-code")).to_have_text("200")
    tests_received = [r for r in receiver.on("/ok") if b'"webhook.test"' in r.body]
    assert len(tests_received) == 1

    # The row expands to the payload and the receiver's answer.
    log_id = await item.get_attribute("data-webhook-id")
    await item.locator("[data-expand]").click()
    detail = page.locator(f"#detail-{log_id}")
    await expect(detail.locator("[data-field=payload]")).to_contain_text('"webhook.test"')
    await expect(detail.locator("[data-field=response_body]")).to_contain_text("reçu")
    await _shot(page, "05-webhooks")

    # Retry: the same event (same webhook-id) is delivered again.
    retry = item.get_by_test_id("retry-webhook-button")
    assert await retry.get_attribute("data-webhook-id") == log_id
    await retry.click()
    await expect(page.get_by_text("Webhook retry scheduled.")).to_be_visible()

    async def redelivered() -> bool:
        got = [r for r in receiver.on("/ok") if b'"webhook.test"' in r.body]
        return len(got) == 2

    await wait_until(redelivered)
    again = [r for r in receiver.on("/ok") if b'"webhook.test"' in r.body]
    assert again[0].headers["webhook-id"] == again[1].headers["webhook-id"]

    # Regenerate the secret (after the confirmation) and see it change.
    before = await _text(page, "webhook-secret")
    assert before == m.webhook_secret
    await page.get_by_test_id("regenerate-secret-button").click()
    await expect(page.get_by_text("New secret generated.")).to_be_visible()
    after = await _text(page, "webhook-secret")
    stored = await merchants.get(conn, m.id)
    assert stored is not None
    assert after == merchants.reveal_webhook_secret(settings.get(), stored) != before

    # Docs: snippets carry this merchant's key and the real URLs.
    await page.get_by_role("link", name="Docs").first.click()
    await expect(page.get_by_test_id("api-docs")).to_be_visible()
    create = await _text(page, "code-snippet-create-order")
    assert m.api_key in create and f"{api}/api/v1/orders" in create
    sdk = await _text(page, "code-snippet-sdk")
    assert m.api_key in sdk and "new PaymentGateway" in sdk and "/checkout.js" in sdk
    hook = await _text(page, "code-snippet-webhook")
    assert "verify.verify" in hook and "createHmac" in hook
    await _shot(page, "06-docs")

    # The narrow phone layout.
    phone = await browser.new_context(
        viewport={"width": 360, "height": 740}, storage_state=await context.storage_state()
    )
    small = await phone.new_page()
    for name, path in [("home", "/dashboard"), ("transactions", "/dashboard/transactions")]:
        await small.goto(dash + path)
        width = await small.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{name} scrolls sideways at 360 px ({width})"
        await _shot(small, f"07-phone-{name}")
    await small.goto(dash + "/dashboard/webhooks")
    await _shot(small, "07-phone-webhooks")
    await phone.close()

    # Logout ends the session.
    await page.goto(dash + "/dashboard")
    await page.get_by_test_id("logout-button").click()
    await page.wait_for_url("**/login?logged_out=1")
    await page.goto(dash + "/dashboard")
    assert "/login" in page.url
    await context.close()
