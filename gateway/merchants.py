"""Merchants: the seeded test merchant, creation, API-key authentication, dashboard login."""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from gateway import db, errors, ids, passwords

TEST_MERCHANT_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
TEST_MERCHANT_NAME = "Test Merchant"
TEST_MERCHANT_EMAIL = "test@example.com"
TEST_API_KEY = "key_test_abc123"
TEST_API_SECRET = "secret_test_xyz789"  # noqa: S105 - the contract's published test credential
TEST_WEBHOOK_SECRET = "whsec_test_abc123"  # noqa: S105 - the contract's published test secret


@dataclass(frozen=True)
class Merchant:
    id: uuid.UUID
    name: str
    email: str
    api_key: str
    api_secret: str
    password_hash: str | None
    webhook_url: str | None
    webhook_secret: str
    is_active: bool
    created_at: datetime

    @property
    def is_test_merchant(self) -> bool:
        return self.id == TEST_MERCHANT_ID


COLUMNS = db.columns(Merchant)


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the Standard Webhooks key shape."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def seed(conn: db.Conn) -> None:
    """The contract's test merchant, idempotently. An existing row is left as it is, so a
    rotated webhook secret or a configured URL survives restarts."""
    await conn.execute(
        "INSERT INTO merchants (id, name, email, api_key, api_secret, webhook_secret)"
        " VALUES (%(id)s, %(name)s, %(email)s, %(key)s, %(secret)s, %(whsec)s)"
        " ON CONFLICT DO NOTHING",
        {
            "id": TEST_MERCHANT_ID,
            "name": TEST_MERCHANT_NAME,
            "email": TEST_MERCHANT_EMAIL,
            "key": TEST_API_KEY,
            "secret": TEST_API_SECRET,
            "whsec": TEST_WEBHOOK_SECRET,
        },
    )


async def create(conn: db.Conn, *, name: str, email: str, password: str | None = None) -> Merchant:
    """A new merchant with fresh credentials. A taken email or a name/email outside the table's
    bounds is BAD_REQUEST_ERROR naming the rule, never the row (which holds the secrets)."""
    try:
        async with conn.transaction():
            return await db.returning(
                conn,
                Merchant,
                "INSERT INTO merchants (id, name, email, api_key, api_secret, password_hash,"
                " webhook_secret) VALUES (%(id)s, %(name)s, %(email)s, %(key)s, %(secret)s,"
                f" %(pw)s, %(whsec)s) RETURNING {COLUMNS}",
                {
                    "id": uuid.uuid4(),
                    "name": name,
                    "email": email.strip().lower(),
                    "key": "key_test_" + ids.random_string(16),
                    "secret": "secret_test_" + ids.random_string(32),
                    "pw": await passwords.hash(password) if password else None,
                    "whsec": new_webhook_secret(),
                },
            )
    except psycopg.errors.UniqueViolation:
        raise errors.BadRequest(f"A merchant with email {email} already exists") from None
    except psycopg.errors.CheckViolation as error:
        rule = error.diag.constraint_name or "a check"
        raise errors.BadRequest(f"Invalid name or email (violates {rule})") from None


async def get(conn: db.Conn, merchant_id: uuid.UUID) -> Merchant | None:
    return await db.one(
        conn, Merchant, f"SELECT {COLUMNS} FROM merchants WHERE id = %(id)s", {"id": merchant_id}
    )


async def get_by_email(conn: db.Conn, email: str) -> Merchant | None:
    return await db.one(
        conn,
        Merchant,
        f"SELECT {COLUMNS} FROM merchants WHERE email = %(email)s",
        {"email": email.strip().lower()},
    )


async def check_login(
    conn: db.Conn, email: str, password: str, *, demo_mode: bool
) -> Merchant | None:
    """The active merchant these dashboard credentials belong to, else None (the caller shows
    one message for every failure). In demo mode the seeded test merchant, which has no
    password, is let in with any password; otherwise every password is checked.

    Every failure costs one scrypt run at the current cost (unknown emails included), off the
    event loop. A hash made at an older cost is replaced once the password has matched."""
    merchant = await get_by_email(conn, email) if email.strip() else None
    if merchant is not None and merchant.is_test_merchant and demo_mode:
        return merchant if merchant.is_active else None
    stored = merchant.password_hash if merchant else None
    ok = await passwords.verify(password, stored)
    if merchant is None or stored is None or not ok or not merchant.is_active:
        return None
    if passwords.needs_rehash(stored):
        # Guarded on the old hash: a password changed meanwhile is never overwritten.
        await conn.execute(
            "UPDATE merchants SET password_hash = %(new)s, updated_at = now()"
            " WHERE id = %(id)s AND password_hash = %(old)s",
            {"id": merchant.id, "old": stored, "new": await passwords.hash(password)},
        )
    return merchant


async def authenticate(conn: db.Conn, api_key: str | None, api_secret: str | None) -> Merchant:
    """The merchant owning this key pair, or AUTHENTICATION_ERROR. The secret is compared in
    constant time, and a wrong key costs the same comparison as a wrong secret."""
    if not api_key or not api_secret:
        raise errors.Unauthorized()
    merchant = await db.one(
        conn,
        Merchant,
        f"SELECT {COLUMNS} FROM merchants WHERE api_key = %(key)s AND is_active",
        {"key": api_key},
    )
    expected = merchant.api_secret if merchant else "x" * 44
    ok = hmac.compare_digest(api_secret.encode(), expected.encode())
    if merchant is None or not ok:
        raise errors.Unauthorized()
    return merchant


ROTATION_OVERLAP = "24 hours"


async def set_webhook_url(conn: db.Conn, merchant_id: uuid.UUID, url: str | None) -> Merchant:
    return await db.get(
        conn,
        Merchant,
        "UPDATE merchants SET webhook_url = %(url)s, updated_at = now() WHERE id = %(id)s"
        f" RETURNING {COLUMNS}",
        {"id": merchant_id, "url": url},
        missing="Merchant not found",
    )


async def rotate_webhook_secret(conn: db.Conn, merchant_id: uuid.UUID) -> Merchant:
    """New `whsec_` secret; the old one keeps signing alongside for 24 h."""
    return await db.get(
        conn,
        Merchant,
        "UPDATE merchants SET previous_webhook_secret = webhook_secret,"
        f" previous_webhook_secret_expires_at = now() + interval '{ROTATION_OVERLAP}',"
        " webhook_secret = %(new)s, updated_at = now() WHERE id = %(id)s"
        f" RETURNING {COLUMNS}",
        {"id": merchant_id, "new": new_webhook_secret()},
        missing="Merchant not found",
    )
