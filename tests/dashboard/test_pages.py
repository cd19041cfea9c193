"""What the dashboard pages show and what their forms do, checked against the database."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from gateway import db, merchants, payments, settings
from gateway.dashboard import web
from tests.dashboard.conftest import page_csrf
from tests.helpers import new_payment


class _TextOf(HTMLParser):
    """The text content of every element carrying data-test-id=`name`, as a browser's
    textContent would give it (children included)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.depth = 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif ("data-test-id", self.name) in attrs:
            self.depth = 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.found[-1] += data


def _texts(html: str, name: str) -> list[str]:
    parser = _TextOf(name)
    parser.feed(html)
    return [text.strip() for text in parser.found]


def _test_id(html: str, name: str) -> str:
    match = re.search(rf'data-test-id="{name}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no {name}"
    return match.group(1).strip()


def _auth(m: merchants.NewMerchant) -> dict[str, str]:
    return {"X-Api-Key": m.api_key, "X-Api-Secret": m.api_secret}


@pytest.mark.parametrize(
    ("paise", "text"),
    [
        (0, "₹0.00"),
        (50000, "₹500.00"),
        (123450, "₹1,234.50"),
        (10000000, "₹1,00,000.00"),
        (1234567899, "₹1,23,45,678.99"),
        (5, "₹0.05"),
    ],
)
def test_rupees_use_indian_grouping(paise: int, text: str) -> None:
    assert web.rupees(paise) == text


@pytest.mark.parametrize(
    ("text", "paise"), [("250", 25000), ("1,250.5", 125050), ("₹0.01", 1), (" 12.30 ", 1230)]
)
def test_rupee_input_becomes_paise(text: str, paise: int) -> None:
    assert web.parse_rupees(text) == paise


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "1.234", "NaN", "Infinity"])
def test_bad_rupee_input_is_refused(text: str) -> None:
    with pytest.raises(web.AmountError):
        web.parse_rupees(text)


async def test_home_shows_credentials_and_stats_equal_to_the_database(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    auth = _auth(owner)
    ok = await new_payment(client, auth, amount=123450)
    failed = await new_payment(client, auth, amount=70000, method="card")
    await new_payment(client, auth, amount=5000)
    await payments.process(conn, ok["id"], config)
    await payments.process(
        conn, failed["id"], config.model_copy(update={"test_payment_success": False})
    )
    row = await db.fetch_one(
        conn,
        "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'success') AS ok,"
        " coalesce(sum(amount) FILTER (WHERE status = 'success'), 0) AS amount"
        " FROM payments WHERE merchant_id = %(m)s",
        {"m": owner.id},
    )
    assert row is not None
    html = (await logged_in.get("/dashboard")).text
    assert _test_id(html, "api-key") == owner.api_key
    assert _test_id(html, "api-secret") == owner.api_secret
    assert _test_id(html, "total-transactions") == str(row["n"]) == "3"
    assert _test_id(html, "total-amount") == web.rupees(row["amount"]) == "₹1,234.50"
    assert _test_id(html, "success-rate") == f"{round(100 * row['ok'] / row['n'])}%" == "33%"


async def test_transactions_newest_first_filtered_and_paginated(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    owner: merchants.NewMerchant,
) -> None:
    auth = _auth(owner)
    made = [
        await new_payment(client, auth, method="card" if i % 3 == 0 else "upi") for i in range(23)
    ]
    html = (await logged_in.get("/dashboard/transactions")).text
    ids = re.findall(r'data-test-id="transaction-row" data-payment-id="(pay_\w+)"', html)
    assert ids == [p["id"] for p in reversed(made)][:20]
    for cell in ("payment-id", "order-id", "amount", "method", "status", "created-at"):
        assert html.count(f'data-test-id="{cell}"') == 20
    assert "Page 1 of 2" in html
    page2 = (await logged_in.get("/dashboard/transactions?page=2")).text
    assert re.findall(r'data-payment-id="(pay_\w+)"', page2) == [p["id"] for p in made[:3]][::-1]
    cards = (await logged_in.get("/dashboard/transactions?method=card")).text
    card_ids = set(re.findall(r'data-payment-id="(pay_\w+)"', cards))
    assert card_ids == {p["id"] for p in made if p["method"] == "card"}
    none = (await logged_in.get("/dashboard/transactions?status=success")).text
    assert "data-payment-id" not in none and "No payments match this filter" in none


async def test_payment_page_shows_the_payment_and_hides_other_merchants(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    owner: merchants.NewMerchant,
    auth: dict[str, str],
) -> None:
    mine = await new_payment(client, _auth(owner), amount=50000)
    page = await logged_in.get(f"/dashboard/transactions/{mine['id']}")
    assert page.status_code == 200
    assert mine["id"] in page.text and mine["order_id"] in page.text and "₹500.00" in page.text
    theirs = await new_payment(client, auth)  # another merchant's payment
    other = await logged_in.get(f"/dashboard/transactions/{theirs['id']}")
    assert other.status_code == 404 and theirs["order_id"] not in other.text


async def test_invalid_webhook_url_shows_the_validation_message(
    logged_in: httpx.AsyncClient, conn: db.Conn, owner: merchants.NewMerchant
) -> None:
    token = await page_csrf(logged_in, "/dashboard/webhooks")
    r = await logged_in.post(
        "/dashboard/webhooks/config", data={"csrf_token": token, "url": "ftp://example.com/x"}
    )
    assert r.status_code == 400
    assert _test_id(r.text, "webhook-url-error") == "Webhook URL must use http or https"
    assert 'value="ftp://example.com/x"' in r.text  # what was typed stays in the field
    after = await merchants.get(conn, owner.id)
    assert after is not None and after.webhook_url is None


async def test_webhook_forms_save_rotate_test_and_retry(
    logged_in: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    token = await page_csrf(logged_in, "/dashboard/webhooks")
    test_button = re.search(
        r'<button[^>]*data-test-id="test-webhook-button"[^>]*>',
        (await logged_in.get("/dashboard/webhooks")).text,
    )
    assert test_button and "disabled" in test_button.group(0)  # nothing to send to yet
    url = "http://127.0.0.1:9/hook"  # private addresses are allowed in test mode
    r = await logged_in.post("/dashboard/webhooks/config", data={"csrf_token": token, "url": url})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/webhooks?notice=saved"
    page = (await logged_in.get(r.headers["location"])).text
    assert "Webhook URL saved." in page and f'value="{url}"' in page
    assert _test_id(page, "webhook-secret") == owner.webhook_secret

    r = await logged_in.post("/dashboard/webhooks/rotate-secret", data={"csrf_token": token})
    assert r.status_code == 303
    rotated = await merchants.get(conn, owner.id)
    assert rotated is not None
    new_secret = merchants.reveal_webhook_secret(config, rotated)
    assert new_secret != owner.webhook_secret
    page = (await logged_in.get("/dashboard/webhooks")).text
    assert _test_id(page, "webhook-secret") == new_secret
    assert "24 hours" in page

    r = await logged_in.post("/dashboard/webhooks/test", data={"csrf_token": token})
    assert r.status_code == 303
    page = (await logged_in.get("/dashboard/webhooks")).text
    log_ids = re.findall(r'data-test-id="webhook-log-item" data-webhook-id="([0-9a-f-]+)"', page)
    assert len(log_ids) == 1
    # The contract's cell holds exactly the event name (checkers compare its text).
    assert _texts(page, "webhook-event") == ["webhook.test"]

    detail = (await logged_in.get(f"/dashboard/webhooks/{log_ids[0]}/detail")).json()
    assert '"event":"webhook.test"' in detail["payload"]

    await conn.execute(
        "UPDATE webhook_logs SET status = 'failed', attempts = 5 WHERE id = %(id)s",
        {"id": log_ids[0]},
    )
    r = await logged_in.post(f"/dashboard/webhooks/{log_ids[0]}/retry", data={"csrf_token": token})
    assert r.status_code == 303
    row = await db.fetch_one(
        conn, "SELECT status, attempts FROM webhook_logs WHERE id = %(id)s", {"id": log_ids[0]}
    )
    assert row == {"status": "pending", "attempts": 0}

    r = await logged_in.post("/dashboard/webhooks/config", data={"csrf_token": token, "url": ""})
    assert r.headers["location"].endswith("notice=cleared")
    cleared = await merchants.get(conn, owner.id)
    assert cleared is not None and cleared.webhook_url is None


async def test_docs_snippets_carry_the_merchants_key_and_real_urls(
    logged_in: httpx.AsyncClient, owner: merchants.NewMerchant, config: settings.Settings
) -> None:
    html = (await logged_in.get("/dashboard/docs")).text
    for section in (
        "section-create-order",
        "section-sdk-integration",
        "section-webhook-verification",
    ):
        assert f'data-test-id="{section}"' in html
    create = _test_id(html, "code-snippet-create-order")
    assert owner.api_key in create and f"{config.public_api_url}/api/v1/orders" in create
    sdk = _test_id(html, "code-snippet-sdk")
    assert f"{config.checkout_url}/checkout.js" in sdk and "new PaymentGateway" in sdk
    assert owner.api_key in sdk
    assert "gateway.webhooks import verify" in html and "createHmac" in html
    assert owner.api_secret not in html and owner.webhook_secret not in html


async def test_pages_send_security_headers(logged_in: httpx.AsyncClient) -> None:
    r = await logged_in.get("/dashboard")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
