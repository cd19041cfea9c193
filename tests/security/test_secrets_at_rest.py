"""Attacks on the merchant secrets kept in the database (issue 11): what a database reader gets,
what moving stored values between rows gets, and the published test pair in production.

Merchants are made the operator's way (`gateway merchants create`, in-process), so each attack
runs unchanged against a gateway that stores secrets in plain text, and fails there."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from gateway import cli, db, merchants, migrations, settings
from gateway.webhooks import attempts
from tests import conftest, services
from tests.conftest import assert_error
from tests.helpers import app_client
from tests.test_migrations import _pg_dump_binary

CREDENTIALS = re.compile(
    r"merchant_id:\s+(?P<id>[0-9a-f-]{36})\n"
    r"api_key:\s+(?P<key>key_test_[A-Za-z0-9]{16})\n"
    r"api_secret:\s+(?P<secret>secret_test_[A-Za-z0-9]{32})\n"
    r"webhook_secret:\s+(?P<whsec>whsec_\S+)\n"
)
PUBLISHED_PAIR = {"X-Api-Key": merchants.TEST_API_KEY, "X-Api-Secret": merchants.TEST_API_SECRET}


async def _create(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """A merchant from `gateway merchants create`, with the credentials it printed."""
    email = f"vault{os.urandom(6).hex()}@example.com"
    argv = ["merchants", "create", "--name", "Vault Shop", "--email", email]
    code = await asyncio.to_thread(cli.main, argv)
    printed = CREDENTIALS.search(capsys.readouterr().out)
    assert code == 0 and printed, "merchants create failed"
    return printed.groupdict()


def _auth(m: dict[str, str]) -> dict[str, str]:
    return {"X-Api-Key": m["key"], "X-Api-Secret": m["secret"]}


def _encodings(secret: str) -> dict[str, str]:
    """The ways a secret could sit in a dump: clear, hex, base64 at any byte alignment (so it is
    found inside a longer encoded value too), and for whsec_ secrets the key they carry."""
    found = {"clear": secret}
    values = {"utf-8": secret.encode()}
    key = secret.removeprefix("whsec_")
    # The key inside a whsec_ secret, when it is base64 (the published whsec_test_abc123 is not,
    # and its tail is part of the published API key).
    if key != secret and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", key):
        found["clear without whsec_"] = key
        values["key bytes"] = base64.b64decode(key)
    for what, raw in values.items():
        found[f"hex of {what}"] = raw.hex()
        found[f"HEX of {what}"] = raw.hex().upper()
        for offset in range(3):
            part = raw[offset:]
            part = part[: len(part) // 3 * 3]
            found[f"base64 of {what} +{offset}"] = base64.b64encode(part).decode()
            found[f"base64url of {what} +{offset}"] = base64.urlsafe_b64encode(part).decode()
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [
        f"{name} in {form}"
        for name, secret in secrets.items()
        for form, encoded in _encodings(secret).items()
        if encoded in text
    ]


def _data_dump(url: str) -> str:
    return subprocess.run(
        [_pg_dump_binary(), "--data-only", "--no-owner", "--no-privileges", "--dbname", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


async def _row_values(conn: db.Conn, table: str, merchant_id: uuid.UUID) -> list[Any]:
    """Every text and bytea value of the merchant's row: what `SELECT *` hands a reader."""
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND data_type IN ('text', 'bytea')",
        (table,),
    )
    names = [row["column_name"] for row in await cur.fetchall()]
    row = await db.fetch_one(
        conn,
        "SELECT " + ", ".join(f'"{n}"' for n in names) + f" FROM {table} WHERE id = %(id)s",
        {"id": merchant_id},
    )
    assert row is not None
    return [value for value in row.values() if value is not None]


async def _copy_columns(conn: db.Conn, like: str, source: str, target: str) -> list[str]:
    """Copy every merchants column whose name matches `like` from one row to another: what an
    attacker with write access to the table (or a restored backup) can do."""
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = 'merchants' AND column_name LIKE %s",
        (like,),
    )
    names = [row["column_name"] for row in await cur.fetchall()]
    assert names
    assignments = ", ".join(f'"{n}" = a."{n}"' for n in names)
    await conn.execute(
        f"UPDATE merchants b SET {assignments} FROM merchants a"
        " WHERE a.id = %(source)s AND b.id = %(target)s",
        {"source": uuid.UUID(source), "target": uuid.UUID(target)},
    )
    return names


async def test_a_dump_of_the_database_holds_no_secret_in_clear_base64_or_hex(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
) -> None:
    caplog.set_level("DEBUG")
    first, second = await _create(capsys), await _create(capsys)
    rotated = await client.post("/api/v1/webhooks/config/rotate-secret", headers=_auth(first))
    assert rotated.status_code == 200, rotated.text
    await cli.prepare(conftest.DATABASE_URL)  # seeds (again) and converts
    secrets = {
        "api secret": first["secret"],
        "other api secret": second["secret"],
        "previous webhook secret": first["whsec"],
        "current webhook secret": rotated.json()["secret"],
        "other webhook secret": second["whsec"],
        "seeded api secret": merchants.TEST_API_SECRET,
        "seeded webhook secret": merchants.TEST_WEBHOOK_SECRET,
    }

    assert _leaks(_data_dump(conftest.DATABASE_URL), secrets) == []
    # Nor in a log line of anything that ran above (creation, rotation, seeding).
    assert _leaks(caplog.text, secrets) == []


async def test_what_a_database_reader_sees_does_not_authenticate(
    capsys: pytest.CaptureFixture[str], client: httpx.AsyncClient, conn: db.Conn
) -> None:
    m = await _create(capsys)
    assert (await client.get("/api/v1/orders", headers=_auth(m))).status_code == 200

    wrong_secret = {"X-Api-Key": m["key"], "X-Api-Secret": "secret_test_" + "x" * 32}
    assert_error(
        await client.get("/api/v1/orders", headers=wrong_secret), 401, "AUTHENTICATION_ERROR"
    )
    wrong_key = {"X-Api-Key": "key_test_" + "y" * 16, "X-Api-Secret": m["secret"]}
    assert_error(await client.get("/api/v1/orders", headers=wrong_key), 401, "AUTHENTICATION_ERROR")

    # Every value of the row, as stored and as hex/base64 of stored bytes, tried as the secret.
    candidates: set[str] = set()
    for value in await _row_values(conn, "merchants", uuid.UUID(m["id"])):
        if isinstance(value, bytes):
            candidates |= {value.hex(), base64.b64encode(value).decode()}
            value = value.decode("ascii", "ignore")
        candidates.add(str(value))
    candidates = {c for c in candidates if c and c.isascii() and c.isprintable()}
    accepted = []
    for candidate in sorted(candidates):
        r = await client.get(
            "/api/v1/orders", headers={"X-Api-Key": m["key"], "X-Api-Secret": candidate}
        )
        if r.status_code != 401:
            accepted.append(candidate)
        else:
            assert_error(r, 401, "AUTHENTICATION_ERROR")
    assert accepted == []


async def test_an_api_secret_copied_to_another_merchants_row_does_not_authenticate_there(
    capsys: pytest.CaptureFixture[str], client: httpx.AsyncClient, conn: db.Conn
) -> None:
    source, target = await _create(capsys), await _create(capsys)
    await _copy_columns(conn, "api\\_secret%", source["id"], target["id"])

    stolen = {"X-Api-Key": target["key"], "X-Api-Secret": source["secret"]}
    assert_error(await client.get("/api/v1/orders", headers=stolen), 401, "AUTHENTICATION_ERROR")
    # The source merchant is untouched.
    assert (await client.get("/api/v1/orders", headers=_auth(source))).status_code == 200


async def test_a_webhook_secret_copied_to_another_merchants_row_is_never_used_for_it(
    capsys: pytest.CaptureFixture[str],
    client: httpx.AsyncClient,
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    source, target = await _create(capsys), await _create(capsys)
    rotated = await client.post("/api/v1/webhooks/config/rotate-secret", headers=_auth(source))
    source_secrets = {"current": rotated.json()["secret"], "previous": source["whsec"]}
    url = {"url": "http://127.0.0.1:9/hook"}  # private URLs are allowed in test mode
    assert (await client.put("/api/v1/webhooks/config", json=url, headers=_auth(target))).is_success
    sent = await client.post("/api/v1/webhooks/test", headers=_auth(target))
    assert sent.status_code == 202, sent.text
    await _copy_columns(conn, "%webhook\\_secret%", source["id"], target["id"])

    # The target's config answer does not hand out the source's secret: the value does not
    # open as the target's, which is a server fault, not a secret.
    r = await client.get("/api/v1/webhooks/config", headers=_auth(target))
    assert not _leaks(r.text, source_secrets)
    assert_error(r, 500, "INTERNAL_ERROR")

    # Nor does the worker sign the target's delivery with it: the attempt stops at the claim.
    log_id = uuid.UUID(sent.json()["webhook_log_id"])
    with pytest.raises(Exception, match="does not open under this server key") as raised:
        await attempts.claim(conn, log_id, 0, 0, config)
    assert not _leaks(str(raised.value), source_secrets)


async def test_production_refuses_the_published_test_pair_even_with_its_row_present(
    capsys: pytest.CaptureFixture[str],
    client: httpx.AsyncClient,
    conn: db.Conn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await cli.prepare(conftest.DATABASE_URL)  # an earlier demo run seeded the row
    row = await db.fetch_one(
        conn, "SELECT is_active FROM merchants WHERE api_key = %(k)s", {"k": merchants.TEST_API_KEY}
    )
    assert row == {"is_active": True}
    assert (await client.get("/api/v1/orders", headers=PUBLISHED_PAIR)).status_code == 200  # demo
    merchant = await _create(capsys)

    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("TEST_MODE", "false")
    production = settings.load()
    assert production.production
    async with app_client(production) as prod:
        for path in ("/api/v1/orders", "/api/v1/webhooks/config", "/api/v1/payments"):
            r = await prod.get(path, headers=PUBLISHED_PAIR)
            assert_error(r, 401, "AUTHENTICATION_ERROR")
        # A real merchant's credentials work there.
        assert (await prod.get("/api/v1/orders", headers=_auth(merchant))).status_code == 200


@pytest.fixture
def old_database() -> Iterator[str]:
    name = services.fresh_database_name().replace("gateway_test_", "gateway_sec_")
    yield services.with_database(conftest.DATABASE_URL, name)
    services.drop_database(conftest.DATABASE_URL, name)


async def test_start_seals_the_secrets_of_rows_written_before_encryption(
    old_database: str, tmp_path: Path, config: settings.Settings
) -> None:
    # A deployment from before: migrated up to 0006, the demo seeded, a merchant mid-rotation.
    await db.ensure_database(old_database)
    before = tmp_path / "migrations"
    before.mkdir()
    for migration in migrations.discover():
        if migration.version < "0007":
            (before / f"{migration.name}.sql").write_text(migration.sql, encoding="utf-8")
    await migrations.apply(old_database, before)
    old = {
        "id": uuid.uuid4(),
        "key": "key_test_" + "O" * 16,
        "secret": "secret_test_" + "Old" * 10 + "ab",
        "whsec": "whsec_" + base64.b64encode(b"new-key-" * 4).decode(),
        "previous": "whsec_" + base64.b64encode(b"old-key-" * 4).decode(),
    }
    async with await psycopg.AsyncConnection.connect(old_database, autocommit=True) as plain_conn:
        await plain_conn.execute(
            "INSERT INTO merchants (id, name, email, api_key, api_secret, webhook_secret)"
            " VALUES (%s, 'Test Merchant', 'test@example.com', %s, %s, %s)",
            (
                merchants.TEST_MERCHANT_ID,
                merchants.TEST_API_KEY,
                merchants.TEST_API_SECRET,
                merchants.TEST_WEBHOOK_SECRET,
            ),
        )
        await plain_conn.execute(
            "INSERT INTO merchants (id, name, email, api_key, api_secret, webhook_secret,"
            " previous_webhook_secret, previous_webhook_secret_expires_at, webhook_url)"
            " VALUES (%(id)s, 'Old Shop', 'old@example.com', %(key)s, %(secret)s, %(whsec)s,"
            " %(previous)s, now() + interval '1 hour', 'http://127.0.0.1:9/hook')",
            old,
        )
    plain = {
        "api secret": str(old["secret"]),
        "webhook secret": str(old["whsec"]),
        "previous webhook secret": str(old["previous"]),
        "seeded api secret": merchants.TEST_API_SECRET,
        "seeded webhook secret": merchants.TEST_WEBHOOK_SECRET,
    }

    await cli.prepare(old_database)

    async def snapshot() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(old_database, row_factory=dict_row) as c:
            cur = await c.execute("SELECT * FROM merchants ORDER BY id")
            return await cur.fetchall()

    converted = await snapshot()
    assert _leaks(repr(converted), plain) == []
    assert _leaks(_data_dump(old_database), plain) == []

    # Idempotent: a second start changes nothing, not even the ciphertexts.
    await cli.prepare(old_database)
    assert await snapshot() == converted

    # The old credentials and secrets still work, from the sealed columns.
    old_auth = {"X-Api-Key": str(old["key"]), "X-Api-Secret": str(old["secret"])}
    async with app_client(config.model_copy(update={"database_url": old_database})) as api:
        assert (await api.get("/api/v1/orders", headers=PUBLISHED_PAIR)).status_code == 200
        answer = await api.get("/api/v1/webhooks/config", headers=old_auth)
        assert answer.status_code == 200 and answer.json()["secret"] == old["whsec"]
        sent = await api.post("/api/v1/webhooks/test", headers=old_auth)
        assert sent.status_code == 202, sent.text
    async with await psycopg.AsyncConnection.connect(
        old_database, autocommit=True, row_factory=dict_row
    ) as c:
        claim = await attempts.claim(c, uuid.UUID(sent.json()["webhook_log_id"]), 0, 0, config)
    assert isinstance(claim, attempts.Claim)
    assert (claim.secret, claim.previous_secret) == (old["whsec"], old["previous"])
