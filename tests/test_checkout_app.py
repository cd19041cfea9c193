"""The checkout app's HTTP surface: the page carries every contract test id, the configured API
address and a CSP that lets the page talk to that API only."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from gateway import settings
from gateway.checkout import app as checkout

CONTRACT_IDS = {
    "checkout-container", "order-summary", "order-amount", "order-id", "payment-methods",
    "method-upi", "method-card", "upi-form", "vpa-input", "pay-button", "card-form",
    "card-number-input", "expiry-input", "cvv-input", "cardholder-name-input",
    "processing-state", "processing-message", "success-state", "payment-id", "success-message",
    "error-state", "error-message", "retry-button",
}  # fmt: skip


@contextlib.asynccontextmanager
async def _client(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    config = settings.load().model_copy(update={"public_api_url": api_url})
    application = checkout.create_app(config)
    # With its lifespan: the page reads the order's merchant's checkout origins.
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_page_has_every_contract_test_id_and_the_configured_api() -> None:
    async with _client('https://api.example.com/"><script>') as client:
        r = await client.get("/checkout", params={"order_id": "order_x"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    ids = set(re.findall(r'data-test-id="([^"]+)"', r.text))
    assert ids >= CONTRACT_IDS, CONTRACT_IDS - ids
    # The URL lands in an attribute, escaped; nothing of it can open a tag.
    assert (
        '<meta name="gateway-api-url" content="https://api.example.com/&quot;&gt;&lt;script&gt;">'
        in r.text
    )
    csp = r.headers["content-security-policy"]
    assert "connect-src https://api.example.com" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-store"


async def test_assets_and_sdk_are_served_with_their_types() -> None:
    root = Path(checkout.STATIC)
    async with _client("http://localhost:8000") as client:
        for path, kind, name in (
            ("/checkout.js", "text/javascript", "checkout.js"),
            ("/checkout/page.js", "text/javascript", "page.js"),
            ("/checkout/checkout.css", "text/css", "checkout.css"),
        ):
            r = await client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(kind), path
            assert r.content == (root / name).read_bytes()
