"""The `gateway` command as operators run it: a real process against the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from gateway import cli, db, keys, merchants, passwords, settings
from tests import conftest, services

CREDENTIALS = re.compile(
    r"^merchant_id:\s+(?P<id>[0-9a-f-]{36})\n"
    r"api_key:\s+(?P<key>key_test_[A-Za-z0-9]{16})\n"
    r"api_secret:\s+(?P<secret>secret_test_[A-Za-z0-9]{32})\n"
    r"webhook_secret:\s+(?P<whsec>whsec_\S+)\n$"
)


def gateway(
    *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "gateway"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [*argv, *args],
        env={**base, "DATABASE_URL": conftest.DATABASE_URL, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _email() -> str:
    return f"cli{os.urandom(6).hex()}@example.com"


async def test_merchants_create_prints_working_credentials(
    client: httpx.AsyncClient, conn: db.Conn, config: settings.Settings
) -> None:
    email = _email()
    done = gateway(
        "merchants", "create", "--name", "CLI Shop", "--email", email, "--password", "s3cret-pw"
    )
    assert done.returncode == 0, done.stderr
    printed = CREDENTIALS.match(done.stdout)
    assert printed, done.stdout

    # The printed pair authenticates through the API and sees the new merchant's own data.
    auth = {"X-Api-Key": printed["key"], "X-Api-Secret": printed["secret"]}
    created = await client.post("/api/v1/orders", json={"amount": 50000}, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["merchant_id"] == printed["id"]
    listed = await client.get("/api/v1/orders", headers=auth)
    assert [o["id"] for o in listed.json()["data"]] == [created.json()["id"]]

    stored = await merchants.get_by_email(conn, email)
    assert stored is not None and str(stored.id) == printed["id"]
    # Stored sealed; what the dashboard decrypts is what was printed.
    assert merchants.reveal_webhook_secret(config, stored) == printed["whsec"]
    assert merchants.reveal_api_secret(config, stored) == printed["secret"]
    # The password is kept only as an scrypt hash that verifies.
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("scrypt$")
    assert "s3cret-pw" not in stored.password_hash
    assert await passwords.verify("s3cret-pw", stored.password_hash)
    assert not await passwords.verify("wrong", stored.password_hash)


async def test_wrong_secret_for_a_created_merchant_is_rejected(client: httpx.AsyncClient) -> None:
    done = gateway("merchants", "create", "--name", "CLI Shop", "--email", _email())
    printed = CREDENTIALS.match(done.stdout)
    assert printed, done.stdout + done.stderr
    r = await client.get(
        "/api/v1/orders",
        headers={"X-Api-Key": printed["key"], "X-Api-Secret": "secret_test_" + "x" * 32},
    )
    conftest.assert_error(r, 401, "AUTHENTICATION_ERROR")


def test_duplicate_email_exits_1_with_one_clear_line() -> None:
    email = _email()
    assert gateway("merchants", "create", "--name", "A", "--email", email).returncode == 0
    # Emails are stored lower-cased, so a different case is the same merchant.
    again = gateway("merchants", "create", "--name", "B", "--email", email.upper())
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.splitlines() == [
        f"gateway: A merchant with email {email.upper()} already exists"
    ]


def test_invalid_name_exits_1_without_echoing_secrets() -> None:
    again = gateway("merchants", "create", "--name", "", "--email", _email())
    assert again.returncode == 1
    assert len(again.stderr.splitlines()) == 1, again.stderr
    assert "secret_test_" not in again.stderr and "whsec_" not in again.stderr


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = services.fresh_database_name().replace("gateway_test_", "gateway_cli_")
    yield services.with_database(conftest.DATABASE_URL, name)
    services.drop_database(conftest.DATABASE_URL, name)


async def test_seeding_twice_keeps_one_test_merchant_and_its_rotated_secret(
    empty_database: str, config: settings.Settings
) -> None:
    first = gateway("migrate", env={"DATABASE_URL": empty_database})
    assert first.returncode == 0, first.stderr
    # The demo says, once, that what it just seeded is published.
    assert [line for line in first.stderr.splitlines() if "key_test_abc123" in line] == [
        cli.DEMO_WARNING
    ]
    async with await psycopg.AsyncConnection.connect(
        empty_database, autocommit=True, row_factory=dict_row
    ) as c:
        rotated = await merchants.rotate_webhook_secret(c, merchants.TEST_MERCHANT_ID, config)
        await merchants.set_webhook_url(c, merchants.TEST_MERCHANT_ID, "https://shop.example/hook")
    rotated_secret = merchants.reveal_webhook_secret(config, rotated)

    second = gateway("migrate", env={"DATABASE_URL": empty_database})
    assert second.returncode == 0, second.stderr
    assert "none pending" in second.stdout

    async with await psycopg.AsyncConnection.connect(empty_database, row_factory=dict_row) as c:
        found = await db.many(
            c,
            merchants.Merchant,
            f"SELECT {merchants.COLUMNS} FROM merchants WHERE email = %(email)s OR id = %(id)s",
            {"email": merchants.TEST_MERCHANT_EMAIL, "id": merchants.TEST_MERCHANT_ID},
        )
    assert [(m.id, m.name, m.email, m.api_key, m.webhook_url) for m in found] == [
        (
            merchants.TEST_MERCHANT_ID,
            "Test Merchant",
            "test@example.com",
            "key_test_abc123",
            "https://shop.example/hook",
        )
    ]
    assert merchants.reveal_api_secret(config, found[0]) == "secret_test_xyz789"
    assert (
        merchants.reveal_webhook_secret(config, found[0]) == rotated_secret != "whsec_test_abc123"
    )


def test_demo_migrate_makes_the_key_every_process_then_shares(
    tmp_path: Path, empty_database: str
) -> None:
    # compose runs `migrate` first with GATEWAY_DATA_DIR on a volume the API and workers share.
    # A database of its own: seeding under another key reseals the test merchant.
    data = tmp_path / "data"
    env = {"GATEWAY_DATA_DIR": str(data), "DATABASE_URL": empty_database}
    first = gateway("migrate", env=env, unset=("GATEWAY_SECRET_KEY",))
    assert first.returncode == 0, first.stderr
    key_file = data / keys.KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_bytes()
    again = gateway("migrate", env=env, unset=("GATEWAY_SECRET_KEY",))
    assert again.returncode == 0, again.stderr
    assert key_file.read_bytes() == key


def test_migrate_with_an_unwritable_data_dir_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = gateway(
        "migrate", env={"GATEWAY_DATA_DIR": str(blocker / "data")}, unset=("GATEWAY_SECRET_KEY",)
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "WARNING demo mode" not in line]
    assert errors == [
        f"gateway: cannot keep the demo key in {blocker / 'data'} (Not a directory);"
        " set GATEWAY_SECRET_KEY or a writable GATEWAY_DATA_DIR"
    ]
