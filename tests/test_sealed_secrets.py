"""gateway/vault.py and how merchants use it: sealed values open only where they were sealed and
under the key that sealed them; authentication compares a MAC and decrypts nothing; nothing
that holds a secret prints it. The attacks themselves are in tests/security/."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr

from gateway import cli, db, errors, merchants, settings, vault
from gateway.webhooks import attempts
from tests import conftest, services

A, B = uuid.uuid4(), uuid.uuid4()


def _other_key(config: settings.Settings) -> settings.Settings:
    key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    return config.model_copy(update={"secret_key": key})


def test_a_sealed_value_opens_only_as_its_own_column_of_its_own_row(
    config: settings.Settings,
) -> None:
    sealed = vault.seal(config, "whsec_x", column="merchants.webhook_secret", row=A)
    assert vault.open_(config, sealed, column="merchants.webhook_secret", row=A) == "whsec_x"
    assert b"whsec_x" not in sealed
    for column, row in (("merchants.webhook_secret", B), ("merchants.api_secret", A)):
        with pytest.raises(vault.Unsealable):
            vault.open_(config, sealed, column=column, row=row)
    with pytest.raises(vault.Unsealable):
        vault.open_(_other_key(config), sealed, column="merchants.webhook_secret", row=A)


@pytest.mark.parametrize("damage", ["flip", "truncate", "version", "empty", "none"])
def test_a_damaged_sealed_value_does_not_open(config: settings.Settings, damage: str) -> None:
    sealed = vault.seal(config, "secret", column="c", row=A)
    broken: bytes | None = {
        "flip": sealed[:-1] + bytes([sealed[-1] ^ 1]),
        "truncate": sealed[:20],
        "version": b"\x02" + sealed[1:],
        "empty": b"",
        "none": None,
    }[damage]
    with pytest.raises(vault.Unsealable, match=r"c of .* does not open") as raised:
        vault.open_(config, broken, column="c", row=A)
    assert "secret" not in str(raised.value).replace("server key", "")


def test_sealing_twice_gives_different_bytes(config: settings.Settings) -> None:
    # A random nonce each time: equal secrets are not visible as equal ciphertexts.
    assert vault.seal(config, "s", column="c", row=A) != vault.seal(config, "s", column="c", row=A)


def test_the_mac_is_keyed_and_bound_to_the_row(config: settings.Settings) -> None:
    mac = vault.mac(config, "secret", row=A)
    assert len(mac) == vault.MAC_BYTES
    assert vault.mac_matches(config, "secret", row=A, stored=mac)
    assert not vault.mac_matches(config, "secret", row=B, stored=mac)
    assert not vault.mac_matches(config, "secreT", row=A, stored=mac)
    assert not vault.mac_matches(_other_key(config), "secret", row=A, stored=mac)


async def test_authentication_costs_one_mac_and_decrypts_nothing(
    conn: db.Conn,
    config: settings.Settings,
    merchant: merchants.NewMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    macs: list[uuid.UUID] = []
    real_mac = vault.mac

    def counting_mac(config: settings.Settings, secret: str, *, row: uuid.UUID) -> bytes:
        macs.append(row)
        return real_mac(config, secret, row=row)

    def no_open(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("authentication decrypted a secret")

    monkeypatch.setattr(vault, "mac", counting_mac)
    monkeypatch.setattr(vault, "open_", no_open)

    found = await merchants.authenticate(conn, config, merchant.api_key, merchant.api_secret)
    assert found.id == merchant.id and macs == [merchant.id]
    # A wrong secret and an unknown key do the same work: one MAC, one comparison.
    for key, secret in ((merchant.api_key, "wrong"), ("key_test_unknown", merchant.api_secret)):
        macs.clear()
        with pytest.raises(errors.Unauthorized):
            await merchants.authenticate(conn, config, key, secret)
        assert len(macs) == 1


async def test_nothing_that_holds_a_secret_prints_it(
    conn: db.Conn, config: settings.Settings, merchant: merchants.NewMerchant
) -> None:
    stored = await merchants.get(conn, merchant.id)
    assert stored is not None
    secrets = (merchant.api_secret, merchant.webhook_secret)
    for thing in (merchant, stored):
        assert not [s for s in secrets if s in repr(thing)]
        assert "sealed" not in repr(thing)
    claim = attempts.Claim(
        log_id=A,
        generation=0,
        attempt=0,
        event_id="evt_x",
        payload=b"{}",
        url=None,
        secret=merchant.webhook_secret,
        previous_secret="whsec_previous",
        lease=merchant.created_at,
    )
    assert merchant.webhook_secret not in repr(claim) and "whsec_previous" not in repr(claim)


@pytest.fixture
def spare_database() -> Iterator[str]:
    name = services.fresh_database_name().replace("gateway_test_", "gateway_key_")
    yield services.with_database(conftest.DATABASE_URL, name)
    services.drop_database(conftest.DATABASE_URL, name)


async def test_a_demo_whose_key_changed_reseals_the_test_merchant(
    spare_database: str, config: settings.Settings
) -> None:
    """A demo's .data/ was wiped (or a second checkout shares the database): the test merchant's
    sealed secrets can never open again, so start seals the published ones afresh; the other
    merchants' are left alone (only their own key opens them)."""
    await cli.prepare(spare_database, config)
    new_key = _other_key(config)
    await cli.prepare(spare_database, new_key)
    async with await psycopg.AsyncConnection.connect(
        spare_database, autocommit=True, row_factory=dict_row
    ) as c:
        found = await merchants.authenticate(
            c, new_key, merchants.TEST_API_KEY, merchants.TEST_API_SECRET
        )
        assert merchants.reveal_webhook_secret(new_key, found) == merchants.TEST_WEBHOOK_SECRET
        assert merchants.reveal_api_secret(new_key, found) == merchants.TEST_API_SECRET
        # Unchanged key: a start leaves the row alone (a rotated secret stays rotated).
        rotated = await merchants.rotate_webhook_secret(c, found.id, new_key)
        await cli.prepare(spare_database, new_key)
        again = await merchants.get(c, found.id)
        assert again is not None
        assert again.webhook_secret_sealed == rotated.webhook_secret_sealed
