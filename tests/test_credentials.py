"""The API's credential cache: a verified key costs no query for a few seconds, and no longer
than that can a deactivated merchant or a changed secret keep working."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from gateway import credentials, db, errors, merchants, settings, vault
from tests.conftest import assert_error
from tests.helpers import app_client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the cache read from the database, in order."""
    seen: list[str] = []
    real = merchants.credential

    async def counting(conn: db.Conn, api_key: str) -> merchants.Credential | None:
        seen.append(api_key)
        return await real(conn, api_key)

    monkeypatch.setattr(merchants, "credential", counting)
    return seen


async def test_a_verified_key_is_trusted_for_the_ttl_without_a_query(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant, lookups: list[str]
) -> None:
    clock = Clock()
    cache = credentials.Cache(5, clock=clock)
    for _ in range(3):
        found = await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
        assert found.id == merchant.id
    assert lookups == [merchant.api_key]
    clock.now += 5
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    assert lookups == [merchant.api_key] * 2


async def test_a_wrong_secret_is_refused_even_for_a_cached_key(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    cache = credentials.Cache(5, clock=Clock())
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    for secret in ("wrong", merchant.api_secret + "x", merchant.api_secret[:-1], ""):
        with pytest.raises(errors.Unauthorized):
            await cache.authenticate(conn, config, merchant.api_key, secret)


async def test_deactivation_takes_effect_when_the_entry_expires(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    clock = Clock()
    cache = credentials.Cache(5, clock=clock)
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    await conn.execute(
        "UPDATE merchants SET is_active = false WHERE id = %(id)s", {"id": merchant.id}
    )
    clock.now += 4.9  # the documented window: still trusted
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    clock.now += 0.1
    with pytest.raises(errors.Unauthorized):
        await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)


async def test_a_changed_secret_takes_effect_when_the_entry_expires(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    clock = Clock()
    cache = credentials.Cache(5, clock=clock)
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    new_secret = "secret_test_" + os.urandom(16).hex()
    await conn.execute(
        "UPDATE merchants SET api_secret_mac = %(mac)s WHERE id = %(id)s",
        {"id": merchant.id, "mac": vault.mac(config, new_secret, row=merchant.id)},
    )
    clock.now += 5
    with pytest.raises(errors.Unauthorized):
        await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    found = await cache.authenticate(conn, config, merchant.api_key, new_secret)
    assert found.id == merchant.id


async def test_forget_drops_a_merchant_at_once(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant, lookups: list[str]
) -> None:
    cache = credentials.Cache(5, clock=Clock())
    await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    await conn.execute(
        "UPDATE merchants SET is_active = false WHERE id = %(id)s", {"id": merchant.id}
    )
    cache.forget(merchant.id)
    with pytest.raises(errors.Unauthorized):
        await cache.authenticate(conn, config, merchant.api_key, merchant.api_secret)


async def test_unknown_keys_are_never_cached(
    conn: db.Conn, config: settings.Settings, lookups: list[str]
) -> None:
    cache = credentials.Cache(5, clock=Clock(), max_entries=4)
    for i in range(10):
        with pytest.raises(errors.Unauthorized):
            await cache.authenticate(conn, config, f"key_test_{i:016d}", "secret")
    assert len(lookups) == 10 and cache._entries == {}


async def test_a_full_cache_drops_its_oldest_entry(
    conn: db.Conn, config: settings.Settings, lookups: list[str]
) -> None:
    made = []
    for _ in range(3):
        suffix = os.urandom(6).hex()
        made.append(
            await merchants.create(
                conn, name=f"C {suffix}", email=f"c{suffix}@example.com", config=config
            )
        )
    cache = credentials.Cache(5, clock=Clock(), max_entries=2)
    for m in made:
        await cache.authenticate(conn, config, m.api_key, m.api_secret)
    assert list(cache._entries) == [made[1].api_key, made[2].api_key]


async def test_webhook_config_is_read_fresh_while_the_credential_is_cached(
    config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    """Two API processes (two apps here): one changes the URL, the other, whose cache holds the
    merchant's credential, shows the change at once."""
    auth = {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}
    url = "https://93.184.216.34/hook"
    async with app_client(config) as a, app_client(config) as b:
        before: Any = (await b.get("/api/v1/webhooks/config", headers=auth)).json()
        assert before["url"] is None
        r = await a.put("/api/v1/webhooks/config", json={"url": url}, headers=auth)
        assert r.status_code == 200, r.text
        after = (await b.get("/api/v1/webhooks/config", headers=auth)).json()
        assert after["url"] == url


async def test_the_api_refuses_a_deactivated_merchant_once_its_entry_expires(
    config: settings.Settings, conn: db.Conn, merchant: merchants.NewMerchant
) -> None:
    auth = {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}
    # A cache that trusts nothing: every request reads the key again.
    async with app_client(config.model_copy(update={"credential_cache_seconds": 0})) as client:
        assert (await client.get("/api/v1/orders", headers=auth)).status_code == 200
        await conn.execute(
            "UPDATE merchants SET is_active = false WHERE id = %(id)s", {"id": merchant.id}
        )
        r: httpx.Response = await client.get("/api/v1/orders", headers=auth)
        assert_error(r, 401, "AUTHENTICATION_ERROR")
