"""What the /v1 tests share: the merchant's credentials as HTTP Basic, and Razorpay's error
envelope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway import merchants


@pytest.fixture
def basic(merchant: merchants.NewMerchant) -> httpx.BasicAuth:
    return httpx.BasicAuth(merchant.api_key, merchant.api_secret)


def assert_razorpay_error(
    response: httpx.Response, status: int, reason: str, description: str | None = None
) -> dict[str, Any]:
    """Razorpay's envelope, every key present; BAD_REQUEST_ERROR for a 4xx, SERVER_ERROR for a
    5xx (the code the SDKs pick their exception from), our own code in `reason`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {
        "code",
        "description",
        "source",
        "step",
        "reason",
        "field",
        "metadata",
    }, error
    assert error["code"] == ("SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR"), error
    assert error["reason"] == reason, error
    assert isinstance(error["description"], str) and error["description"], error
    if description is not None:
        assert error["description"] == description, error
    return body
