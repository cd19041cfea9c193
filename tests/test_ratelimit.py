"""Rate limits: per API key, per client address on the public checkout endpoints, fail-open."""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest

from gateway import settings
from tests.conftest import assert_error
from tests.helpers import UNREACHABLE_REDIS, app_client, new_order


def _address() -> tuple[str, int]:
    """A client address no other test (or concurrent run on this Redis) has used."""
    return (f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}", 4242)


def _small(config: settings.Settings, **update: object) -> settings.Settings:
    return config.model_copy(
        update={"rate_limit_per_minute": 5, "public_rate_limit_per_minute": 3, **update}
    )


async def test_private_api_is_limited_per_key_with_headers(
    config: settings.Settings, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    async with app_client(_small(config), client=_address()) as c:
        remaining = []
        for _ in range(5):
            r = await c.get("/api/v1/orders", headers=auth)
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "5"
            assert int(r.headers["ratelimit-reset"]) >= 1
            remaining.append(int(r.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        limited = await c.post("/api/v1/orders", json={"amount": 500}, headers=auth)
        assert_error(limited, 429, "RATE_LIMITED")
        # GCRA at 5/min: the next request fits 12 s later.
        assert 1 <= int(limited.headers["retry-after"]) <= 12
        assert limited.headers["ratelimit-limit"] == "5"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(limited.headers["ratelimit-reset"]) <= 60
        assert limited.headers["x-request-id"]
        # Another key has its own allowance.
        assert (await c.get("/api/v1/orders", headers=other_auth)).status_code == 200


async def test_public_checkout_endpoints_are_limited_per_client_address(
    config: settings.Settings, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    url = f"/api/v1/orders/{order_id}/public"
    limited_config = _small(config)
    async with app_client(limited_config, client=_address()) as c:
        for expected in (2, 1, 0):
            r = await c.get(url)
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "3"
            assert r.headers["ratelimit-remaining"] == str(expected)
        r = await c.post("/api/v1/payments/public", json={"order_id": order_id})
        assert_error(r, 429, "RATE_LIMITED")
        assert int(r.headers["retry-after"]) >= 1
    async with app_client(limited_config, client=_address()) as c:
        assert (await c.get(url)).status_code == 200


async def test_health_and_test_endpoints_are_not_limited(config: settings.Settings) -> None:
    async with app_client(_small(config, public_rate_limit_per_minute=1), _address()) as c:
        for _ in range(3):
            assert (await c.get("/health")).status_code == 200
            r = await c.get("/api/v1/test/merchant")
            assert r.status_code == 200 and "ratelimit-limit" not in r.headers


async def test_redis_unreachable_serves_everything_and_warns_once(
    config: settings.Settings,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = _small(config, redis_url=UNREACHABLE_REDIS, rate_limit_per_minute=2)
    with caplog.at_level(logging.WARNING, logger="gateway.redis"):
        async with app_client(down, client=_address()) as c:
            for _ in range(12):
                r = await c.post("/api/v1/orders", json={"amount": 500}, headers=auth)
                assert r.status_code == 201
                assert "ratelimit-limit" not in r.headers
            order_id = r.json()["id"]
            for _ in range(6):
                assert (await c.get(f"/api/v1/orders/{order_id}/public")).status_code == 200
    warnings = [rec for rec in caplog.records if "redis unreachable" in rec.getMessage()]
    assert len(warnings) == 1
