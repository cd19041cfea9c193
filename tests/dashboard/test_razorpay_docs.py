"""The docs page's "Coming from Razorpay": the lines that change, with the merchant's key and
this deployment's URLs, no secret, beside the contract's sections (kept as they were)."""

from __future__ import annotations

import html as html_lib

import httpx

from gateway import merchants, settings


async def test_coming_from_razorpay_shows_the_lines_that_change(
    logged_in: httpx.AsyncClient, owner: merchants.NewMerchant, config: settings.Settings
) -> None:
    page = (await logged_in.get("/dashboard/docs")).text
    for section in (
        "section-create-order",
        "section-sdk-integration",
        "section-webhook-verification",
        "section-coming-from-razorpay",
    ):
        assert f'data-test-id="{section}"' in page
    text = html_lib.unescape(page)
    assert f'base_url="{config.public_api_url}"' in text
    assert f'razorpay.api.rq.defaults.baseURL = "{config.public_api_url}"' in text
    assert f'<script src="{config.checkout_url}/checkout.js"></script>' in text
    assert "new Razorpay(" in text and "razorpay_signature" in text
    assert '"format": "razorpay"' in text and "X-Razorpay-Signature" in text
    assert text.count(owner.api_key) >= 4
    assert owner.api_secret not in page and owner.webhook_secret not in page
