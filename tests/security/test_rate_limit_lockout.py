"""Attack: lock a merchant out with nothing but its public API key (issue 11, High 4).

The key sits in every checkout page. When the per-key bucket was charged before the secret was
checked, anyone could spend a merchant's allowance with wrong secrets, and random keys each got
a fresh bucket, so nothing limited a guessing address. Now the merchant's bucket is charged only
after authentication, failed authentications are counted per client address, and an address
over that limit is refused before its credentials are looked at.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gateway import merchants, settings
from gateway.api import app as app_module
from tests.conftest import assert_error

KEY_LIMIT = 5
FAILURE_LIMIT = 3  # failed authentications per address follow the per-address (public) limit
URL = "/api/v1/orders"


def _address() -> tuple[str, int]:
    """A client address no other test (or concurrent run on this Redis) has used."""
    return (f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}", 4242)


@contextlib.asynccontextmanager
async def _api(config: settings.Settings) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """One API app with small limits, and clients for it, each from an address of its own:
    the attacker and the merchant reach the same process."""
    small = config.model_copy(
        update={"rate_limit_per_minute": KEY_LIMIT, "public_rate_limit_per_minute": FAILURE_LIMIT}
    )
    application = app_module.create_app(small)
    async with (
        application.router.lifespan_context(application),
        contextlib.AsyncExitStack() as stack,
    ):

        def client() -> httpx.AsyncClient:
            transport = httpx.ASGITransport(
                app=application, raise_app_exceptions=False, client=_address()
            )
            c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            stack.push_async_callback(c.aclose)
            return c

        yield client


def _policy(name: str, limit: int) -> str:
    return f'{limit};w=60;name="{name}"'


def _random_credentials() -> dict[str, str]:
    return {
        "X-Api-Key": "key_test_" + secrets.token_hex(8),
        "X-Api-Secret": "secret_test_" + secrets.token_hex(16),
    }


async def test_wrong_secrets_for_a_public_key_lock_out_the_attacker_not_the_merchant(
    config: settings.Settings, auth: dict[str, str]
) -> None:
    wrong = {**auth, "X-Api-Secret": "secret_test_" + secrets.token_hex(16)}
    async with _api(config) as new_client:
        attacker, merchant = new_client(), new_client()
        attack = [await attacker.get(URL, headers=wrong) for _ in range(FAILURE_LIMIT)]
        attack += [
            await attacker.post(URL, json={"amount": 500}, headers=wrong)
            for _ in range(3 * KEY_LIMIT)
        ]
        # The merchant, from its own address, still has its whole allowance: the attacker
        # spent none of it.
        served = [await merchant.get(URL, headers=auth) for _ in range(KEY_LIMIT)]
        assert [r.status_code for r in served] == [200] * KEY_LIMIT, served[-1].text
        remaining = [int(r.headers["ratelimit-remaining"]) for r in served]
        assert remaining == list(range(KEY_LIMIT - 1, -1, -1))
        for r in served:
            assert r.headers["ratelimit-policy"] == _policy("key", KEY_LIMIT)
        # Its own excess is limited by its own bucket, and the header says which one.
        r = await merchant.get(URL, headers=auth)
        assert_error(r, 429, "RATE_LIMITED")
        assert r.headers["ratelimit-policy"] == _policy("key", KEY_LIMIT)

    # The attacker's address: a few 401s, then 429s naming the failed-authentication limit.
    for r, left in zip(attack, range(FAILURE_LIMIT - 1, -1, -1), strict=False):
        assert_error(r, 401, "AUTHENTICATION_ERROR")
        assert r.headers["ratelimit-policy"] == _policy("auth-failures", FAILURE_LIMIT)
        assert r.headers["ratelimit-remaining"] == str(left)
    for r in attack[FAILURE_LIMIT:]:
        assert_error(r, 429, "RATE_LIMITED")
        assert r.headers["ratelimit-policy"] == _policy("auth-failures", FAILURE_LIMIT)
        assert r.headers["ratelimit-limit"] == str(FAILURE_LIMIT)
        assert r.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_random_keys_from_one_address_share_its_failure_limit(
    config: settings.Settings,
) -> None:
    async with _api(config) as new_client:
        attacker = new_client()
        for _ in range(FAILURE_LIMIT - 1):
            assert_error(
                await attacker.get(URL, headers=_random_credentials()), 401, "AUTHENTICATION_ERROR"
            )
        # No credentials at all is a failed authentication too.
        assert_error(await attacker.get(URL), 401, "AUTHENTICATION_ERROR")
        for _ in range(5):
            r = await attacker.get(URL, headers=_random_credentials())
            assert_error(r, 429, "RATE_LIMITED")
            assert r.headers["ratelimit-policy"] == _policy("auth-failures", FAILURE_LIMIT)
        # Another address is not affected.
        other = new_client()
        assert_error(
            await other.get(URL, headers=_random_credentials()), 401, "AUTHENTICATION_ERROR"
        )


async def test_an_address_over_its_failure_limit_is_refused_before_credentials_are_checked(
    config: settings.Settings, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the limit even the right secret gets 429: otherwise the answer would tell a
    guesser when it guessed right. And no credential lookup is spent on such an address."""
    checked = 0
    authenticate = merchants.authenticate

    async def counting(*args: Any, **kwargs: Any) -> merchants.Merchant:
        nonlocal checked
        checked += 1
        return await authenticate(*args, **kwargs)

    monkeypatch.setattr(merchants, "authenticate", counting)
    wrong = {**auth, "X-Api-Secret": "secret_test_" + secrets.token_hex(16)}
    async with _api(config) as new_client:
        attacker = new_client()
        for _ in range(FAILURE_LIMIT):
            assert_error(await attacker.get(URL, headers=wrong), 401, "AUTHENTICATION_ERROR")
        assert_error(await attacker.get(URL, headers=wrong), 429, "RATE_LIMITED")
        before = checked
        for _ in range(3):
            r = await attacker.get(URL, headers=auth)
            assert_error(r, 429, "RATE_LIMITED")
            assert r.headers["ratelimit-policy"] == _policy("auth-failures", FAILURE_LIMIT)
        assert checked == before, "credentials were looked up for a refused address"
