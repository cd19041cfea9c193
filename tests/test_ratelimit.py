"""Rate limits: per merchant once authenticated, per client address on the public checkout
endpoints and for failed authentications, fail-open."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from gateway import ratelimit, settings
from gateway.api import app as app_module
from gateway.api import middleware
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
            assert r.headers["ratelimit-policy"] == '5;w=60;name="key"'
            assert int(r.headers["ratelimit-reset"]) >= 1
            remaining.append(int(r.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        limited = await c.post("/api/v1/orders", json={"amount": 500}, headers=auth)
        assert_error(limited, 429, "RATE_LIMITED")
        # GCRA at 5/min: the next request fits 12 s later.
        assert 1 <= int(limited.headers["retry-after"]) <= 12
        assert limited.headers["ratelimit-limit"] == "5"
        assert limited.headers["ratelimit-policy"] == '5;w=60;name="key"'
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
            assert r.headers["ratelimit-policy"] == '3;w=60;name="address"'
            assert r.headers["ratelimit-remaining"] == str(expected)
        for _ in range(2):  # the second refusal is answered in process, alike
            r = await c.post("/api/v1/payments/public", json={"order_id": order_id})
            assert_error(r, 429, "RATE_LIMITED")
            assert 1 <= int(r.headers["retry-after"]) <= 20
            assert r.headers["ratelimit-policy"] == '3;w=60;name="address"'
            assert r.headers["ratelimit-remaining"] == "0"
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
            # Failed authentications cannot be counted either: still 401, never 429.
            wrong = {**auth, "X-Api-Secret": "wrong"}
            for _ in range(6):
                assert_error(
                    await c.get("/api/v1/orders", headers=wrong), 401, "AUTHENTICATION_ERROR"
                )
            order_id = r.json()["id"]
            for _ in range(6):
                assert (await c.get(f"/api/v1/orders/{order_id}/public")).status_code == 200
    warnings = [rec for rec in caplog.records if "redis unreachable" in rec.getMessage()]
    assert len(warnings) == 1


async def test_one_redis_round_trip_per_limited_request_and_none_for_a_refused_address(
    config: settings.Settings,
    auth: dict[str, str],
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path's budget (issue 12): an authenticated request costs one Redis call (the
    failure check and the merchant's charge are one script), a public one one, and an address
    already refused for failed authentications none."""
    order_id = await new_order(client, auth)
    application = app_module.create_app(_small(config, rate_limit_per_minute=1000))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(
            app=application, raise_app_exceptions=False, client=_address()
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            redis = application.state.redis
            commands: list[str] = []
            execute = redis.execute_command

            async def counting(*args: Any, **options: Any) -> Any:
                commands.append(str(args[0]))
                return await execute(*args, **options)

            async def trips(request: Awaitable[httpx.Response], status: int) -> int:
                commands.clear()
                assert (await request).status_code == status
                return len(commands)

            # Loads the script once (EVALSHA, NOSCRIPT, SCRIPT LOAD); not what is measured.
            assert (await c.get("/api/v1/orders", headers=auth)).status_code == 200
            monkeypatch.setattr(redis, "execute_command", counting)
            body = {"order_id": order_id, "method": "upi", "vpa": "asha@okbank"}
            wrong = {**auth, "X-Api-Secret": "wrong"}
            assert await trips(c.get("/api/v1/orders", headers=auth), 200) == 1
            assert await trips(c.post("/api/v1/payments", json=body, headers=auth), 201) == 1
            assert await trips(c.get(f"/api/v1/orders/{order_id}/public"), 200) == 1
            assert await trips(c.get("/api/v1/orders", headers=wrong), 401) == 1
            assert commands == ["EVALSHA"]
            # Two more failures use up the address's 3; the next request learns it is refused.
            statuses = [(await c.get("/api/v1/orders", headers=wrong)).status_code for _ in "123"]
            assert statuses == [401, 401, 429]
            assert await trips(c.get("/api/v1/orders", headers=auth), 429) == 0


def test_refusals_kept_in_process_are_bounded_and_expire() -> None:
    refusals = ratelimit.Refusals(size=2)
    refused = ratelimit.Decision(False, 3, 0, retry_after_ms=20_000, reset_ms=60_000, policy="x")
    buckets = [ratelimit.Bucket(f"auth-failures:10.0.0.{i}", 3, "x") for i in range(3)]
    for b in buckets:
        refusals.remember(b, refused)
    assert refusals.get(buckets[0]) is None  # the oldest made room
    again = refusals.get(buckets[2])
    assert again is not None and not again.allowed and 1 <= again.retry_after <= 20
    gone = ratelimit.Bucket("auth-failures:10.0.0.9", 3, "x")
    refusals.remember(gone, ratelimit.Decision(False, 3, 0, 0, 0, "x"))
    assert refusals.get(gone) is None  # its time has already come


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_an_ipv6_host_is_counted_by_its_64(host: str, counted_as: str) -> None:
    assert middleware.client_address({"client": (host, 1)}) == counted_as
