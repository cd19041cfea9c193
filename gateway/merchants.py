"""Merchants: the seeded test merchant, creation, API-key authentication, dashboard login.

The API secret and the webhook secrets are stored sealed (gateway/vault.py) and come out in clear
only through `reveal_api_secret` / `reveal_webhook_secret`, for the few readers that show or sign
with them. A Merchant carries the sealed bytes, never the plaintext, and its repr shows neither."""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg

from gateway import db, errors, ids, passwords, settings, vault

log = logging.getLogger("gateway.merchants")

TEST_MERCHANT_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
TEST_MERCHANT_NAME = "Test Merchant"
TEST_MERCHANT_EMAIL = "test@example.com"
TEST_API_KEY = "key_test_abc123"
TEST_API_SECRET = "secret_test_xyz789"  # noqa: S105 - the contract's published test credential
TEST_WEBHOOK_SECRET = "whsec_test_abc123"  # noqa: S105 - the contract's published test secret


# Where each secret is sealed: the column name is bound into its ciphertext (with the merchant id),
# so a value copied to another column or row does not open.
# (S105: these are column names, not secrets.)
API_SECRET = "merchants.api_secret"  # noqa: S105
WEBHOOK_SECRET = "merchants.webhook_secret"  # noqa: S105
PREVIOUS_WEBHOOK_SECRET = "merchants.previous_webhook_secret"  # noqa: S105


@dataclass(frozen=True)
class Merchant:
    id: uuid.UUID
    name: str
    email: str
    api_key: str
    password_hash: str | None
    webhook_url: str | None
    is_active: bool
    created_at: datetime
    # "classic" (the contract's webhook bytes) or "razorpay" (Razorpay's envelope and headers).
    webhook_format: str
    # Sealed; read through reveal_api_secret / reveal_webhook_secret. Kept out of repr so that a
    # merchant in a log line or a traceback carries no secret material at all.
    api_secret_sealed: bytes = field(repr=False)
    webhook_secret_sealed: bytes = field(repr=False)

    @property
    def is_test_merchant(self) -> bool:
        return self.id == TEST_MERCHANT_ID


@dataclass(frozen=True)
class NewMerchant(Merchant):
    """A merchant just created, with its secrets in clear: the one moment they exist outside
    the vault (the CLI prints them once). Never stored or logged in this form."""

    api_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)


COLUMNS = db.columns(Merchant)


def reveal_api_secret(config: settings.Settings, merchant: Merchant) -> str:
    """The API secret in clear, for the dashboard (and signatures made with it). Never called
    to authenticate: that compares the MAC."""
    return vault.open_(config, merchant.api_secret_sealed, column=API_SECRET, row=merchant.id)


def reveal_webhook_secret(config: settings.Settings, merchant: Merchant) -> str:
    """The current webhook secret in clear, for the config answer and the dashboard."""
    return vault.open_(
        config, merchant.webhook_secret_sealed, column=WEBHOOK_SECRET, row=merchant.id
    )


def _sealed_api_secret(config: settings.Settings, row: uuid.UUID, secret: str) -> dict[str, bytes]:
    return {
        "api_mac": vault.mac(config, secret, row=row),
        "api_sealed": vault.seal(config, secret, column=API_SECRET, row=row),
    }


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the Standard Webhooks key shape."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def seed(conn: db.Conn, config: settings.Settings) -> None:
    """The contract's test merchant, idempotently. An existing row is left as it is, so a
    rotated webhook secret or a configured URL survives restarts, unless its secrets were
    sealed under another server key (a demo whose .data/ was wiped, or a second checkout on the
    same database): then they could never open again, and the published values are sealed
    afresh so that the published credentials keep working."""
    sealed = {
        **_sealed_api_secret(config, TEST_MERCHANT_ID, TEST_API_SECRET),
        "whsec": vault.seal(
            config, TEST_WEBHOOK_SECRET, column=WEBHOOK_SECRET, row=TEST_MERCHANT_ID
        ),
    }
    async with conn.transaction():
        inserted = await db.fetch_one(
            conn,
            "INSERT INTO merchants (id, name, email, api_key, api_secret_mac, api_secret_sealed,"
            " webhook_secret_sealed) VALUES (%(id)s, %(name)s, %(email)s, %(key)s,"
            " %(api_mac)s, %(api_sealed)s, %(whsec)s) ON CONFLICT DO NOTHING RETURNING id",
            {
                "id": TEST_MERCHANT_ID,
                "name": TEST_MERCHANT_NAME,
                "email": TEST_MERCHANT_EMAIL,
                "key": TEST_API_KEY,
                **sealed,
            },
        )
        if inserted is not None:
            return
        row = await db.fetch_one(
            conn,
            "SELECT api_secret_mac FROM merchants WHERE id = %(id)s FOR UPDATE",
            {"id": TEST_MERCHANT_ID},
        )
        # No MAC: a row not converted yet, which seal_legacy_secrets owns.
        if row is None or row["api_secret_mac"] is None:
            return
        if vault.mac_matches(
            config, TEST_API_SECRET, row=TEST_MERCHANT_ID, stored=row["api_secret_mac"]
        ):
            return
        log.warning("the test merchant's secrets were sealed under another server key; resealed")
        await conn.execute(
            "UPDATE merchants SET api_secret_mac = %(api_mac)s, api_secret_sealed = %(api_sealed)s,"
            " webhook_secret_sealed = %(whsec)s, previous_webhook_secret_sealed = NULL,"
            " previous_webhook_secret_expires_at = NULL, updated_at = now() WHERE id = %(id)s",
            {"id": TEST_MERCHANT_ID, **sealed},
        )


async def seal_legacy_secrets(conn: db.Conn, config: settings.Settings) -> int:
    """Seal the plain-text secrets of rows written before migration 0007 and clear the plain
    text; returns how many rows changed. SQL cannot do this (the key is not in the database),
    so every start runs it right after migrating: one transaction, and a second run (or a
    second process starting at once) finds nothing left to do."""
    async with conn.transaction():
        rows = await db.fetch_all(
            conn,
            "SELECT id, api_secret, webhook_secret, previous_webhook_secret FROM merchants"
            " WHERE num_nonnulls(api_secret, webhook_secret, previous_webhook_secret) > 0"
            " FOR UPDATE",
        )
        for row in rows:
            params: dict[str, object] = {"id": row["id"], "api_mac": None, "api_sealed": None}
            if row["api_secret"] is not None:
                params.update(_sealed_api_secret(config, row["id"], row["api_secret"]))
            for column, name, key in (
                ("webhook_secret", WEBHOOK_SECRET, "whsec"),
                ("previous_webhook_secret", PREVIOUS_WEBHOOK_SECRET, "previous"),
            ):
                plain = row[column]
                params[key] = (
                    None if plain is None else vault.seal(config, plain, column=name, row=row["id"])
                )
            # COALESCE: a secret already sealed stays as it is; only the plain ones move.
            await conn.execute(
                "UPDATE merchants SET"
                " api_secret_mac = COALESCE(%(api_mac)s, api_secret_mac),"
                " api_secret_sealed = COALESCE(%(api_sealed)s, api_secret_sealed),"
                " webhook_secret_sealed = COALESCE(%(whsec)s, webhook_secret_sealed),"
                " previous_webhook_secret_sealed ="
                "   COALESCE(%(previous)s, previous_webhook_secret_sealed),"
                " api_secret = NULL, webhook_secret = NULL, previous_webhook_secret = NULL"
                " WHERE id = %(id)s",
                params,
            )
    if rows:
        log.info("sealed the plain-text secrets of %d merchant(s)", len(rows))
    return len(rows)


async def create(
    conn: db.Conn,
    *,
    name: str,
    email: str,
    password: str | None = None,
    config: settings.Settings,
) -> NewMerchant:
    """A new merchant with fresh credentials, returned in clear this once and stored sealed.
    A taken email or a name/email outside the table's bounds is BAD_REQUEST_ERROR naming the
    rule, never the row."""
    merchant_id = uuid.uuid4()
    api_secret = "secret_test_" + ids.random_string(32)
    webhook_secret = new_webhook_secret()
    try:
        async with conn.transaction():
            row = await db.fetch_one(
                conn,
                "INSERT INTO merchants (id, name, email, api_key, password_hash, api_secret_mac,"
                " api_secret_sealed, webhook_secret_sealed) VALUES (%(id)s, %(name)s,"
                " %(email)s, %(key)s, %(pw)s, %(api_mac)s, %(api_sealed)s, %(whsec)s)"
                f" RETURNING {COLUMNS}",
                {
                    "id": merchant_id,
                    "name": name,
                    "email": email.strip().lower(),
                    "key": "key_test_" + ids.random_string(16),
                    "pw": await passwords.hash(password) if password else None,
                    **_sealed_api_secret(config, merchant_id, api_secret),
                    "whsec": vault.seal(
                        config, webhook_secret, column=WEBHOOK_SECRET, row=merchant_id
                    ),
                },
            )
    except psycopg.errors.UniqueViolation:
        raise errors.BadRequest(f"A merchant with email {email} already exists") from None
    except psycopg.errors.CheckViolation as error:
        rule = error.diag.constraint_name or "a check"
        raise errors.BadRequest(f"Invalid name or email (violates {rule})") from None
    if row is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return db.load(NewMerchant, {**row, "api_secret": api_secret, "webhook_secret": webhook_secret})


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


# What a miss is compared against, so that an unknown key costs the same HMAC and comparison as
# a known key with a wrong secret.
_NO_MERCHANT = uuid.UUID(int=0)
_NO_MAC = bytes(vault.MAC_BYTES)


async def authenticate(
    conn: db.Conn, config: settings.Settings, api_key: str | None, api_secret: str | None
) -> Merchant:
    """The merchant owning this key pair, or AUTHENTICATION_ERROR. One query and one HMAC: the
    secret is checked against its stored MAC in constant time, nothing is decrypted, and a
    wrong key costs the same work as a wrong secret. In production the published test pair
    never authenticates, even where an earlier demo run left its row behind."""
    if not api_key or not api_secret:
        raise errors.Unauthorized()
    row = await db.fetch_one(
        conn,
        f"SELECT {COLUMNS}, api_secret_mac FROM merchants WHERE api_key = %(key)s AND is_active",
        {"key": api_key},
    )
    merchant = db.load(Merchant, row) if row is not None else None
    # A row not converted yet (mac NULL) is compared like a miss: it cannot match.
    stored = row["api_secret_mac"] if row is not None and row["api_secret_mac"] else _NO_MAC
    ok = vault.mac_matches(
        config, api_secret, row=merchant.id if merchant else _NO_MERCHANT, stored=stored
    )
    if merchant is None or not ok:
        raise errors.Unauthorized()
    if config.production and (merchant.is_test_merchant or api_key == TEST_API_KEY):
        raise errors.Unauthorized()
    return merchant


ROTATION_OVERLAP = "24 hours"
WEBHOOK_FORMATS = ("classic", "razorpay")


async def set_webhook_url(
    conn: db.Conn, merchant_id: uuid.UUID, url: str | None, *, webhook_format: str | None = None
) -> Merchant:
    """Set the URL, and the body format when one is given (None keeps the current one, so a
    client that only knows about URLs, the dashboard's form included, never flips it)."""
    if webhook_format is not None and webhook_format not in WEBHOOK_FORMATS:
        raise errors.BadRequest(f"format must be one of: {', '.join(WEBHOOK_FORMATS)}")
    return await db.get(
        conn,
        Merchant,
        "UPDATE merchants SET webhook_url = %(url)s,"
        " webhook_format = coalesce(%(format)s, webhook_format), updated_at = now()"
        f" WHERE id = %(id)s RETURNING {COLUMNS}",
        {"id": merchant_id, "url": url, "format": webhook_format},
        missing="Merchant not found",
    )


async def rotate_webhook_secret(
    conn: db.Conn, merchant_id: uuid.UUID, config: settings.Settings
) -> Merchant:
    """New `whsec_` secret; the old one keeps signing alongside for 24 h. The old ciphertext is
    bound to the current-secret column, so it is opened and sealed again for the previous one,
    under the row lock (two rotations at once cannot both demote the same secret)."""
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            "SELECT webhook_secret_sealed FROM merchants WHERE id = %(id)s FOR UPDATE",
            {"id": merchant_id},
        )
        if row is None:
            raise errors.NotFound("Merchant not found")
        current = vault.open_(
            config, row["webhook_secret_sealed"], column=WEBHOOK_SECRET, row=merchant_id
        )
        return await db.get(
            conn,
            Merchant,
            "UPDATE merchants SET previous_webhook_secret_sealed = %(previous)s,"
            f" previous_webhook_secret_expires_at = now() + interval '{ROTATION_OVERLAP}',"
            " webhook_secret_sealed = %(new)s, updated_at = now() WHERE id = %(id)s"
            f" RETURNING {COLUMNS}",
            {
                "id": merchant_id,
                "previous": vault.seal(
                    config, current, column=PREVIOUS_WEBHOOK_SECRET, row=merchant_id
                ),
                "new": vault.seal(
                    config, new_webhook_secret(), column=WEBHOOK_SECRET, row=merchant_id
                ),
            },
            missing="Merchant not found",
        )


# Where a merchant's hosted checkout may be embedded and may post its results (postMessage).
MAX_CHECKOUT_ORIGINS = 20
_HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class CheckoutConfig:
    allowed_origins: list[str]

    def out(self) -> dict[str, Any]:
        return {"allowed_origins": list(self.allowed_origins)}


def checkout_origin(value: str, *, production: bool) -> str:
    """`value` spelled as a browser spells an origin (`https://shop.example`, `http://localhost:8080`),
    or BAD_REQUEST_ERROR saying why not. Exactly an origin: the same string goes into a CSP
    `frame-ancestors` list and is compared with postMessage origins, so a path, a wildcard, a
    credential or a stray space (which would splice another CSP directive) is refused rather
    than interpreted. Production takes https only: results posted to a plain-http page can be
    read or forged on the way."""
    problem = f"{value!r} is not an origin like https://shop.example"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise errors.BadRequest(problem) from None
    host = parts.hostname or ""
    if (
        parts.scheme not in _DEFAULT_PORTS
        or value != value.strip()
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
        or port == 0
    ):
        raise errors.BadRequest(problem)
    if host.startswith("[") or ":" in host:
        # IPv6 (urlsplit strips the brackets): only a valid address, written back bracketed.
        try:
            host = "[" + ipaddress.IPv6Address(host.strip("[]")).compressed + "]"
        except ValueError:
            raise errors.BadRequest(problem) from None
    elif not _HOST.fullmatch(host):
        # Non-ASCII names must be given in their xn-- form, as browsers report them.
        raise errors.BadRequest(problem)
    if production and parts.scheme != "https":
        raise errors.BadRequest(f"{value!r}: checkout origins must use https in production")
    netloc = host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


async def checkout_config(conn: db.Conn, merchant_id: uuid.UUID) -> CheckoutConfig:
    return await db.get(
        conn,
        CheckoutConfig,
        "SELECT checkout_origins AS allowed_origins FROM merchants WHERE id = %(id)s",
        {"id": merchant_id},
        missing="Merchant not found",
    )


async def set_checkout_origins(
    conn: db.Conn, merchant_id: uuid.UUID, origins: list[str], *, production: bool
) -> CheckoutConfig:
    """Replace the merchant's allowed checkout origins (normalised, duplicates dropped, order
    kept); an empty list clears them."""
    if len(origins) > MAX_CHECKOUT_ORIGINS:
        raise errors.BadRequest(f"At most {MAX_CHECKOUT_ORIGINS} checkout origins")
    normalised = list(dict.fromkeys(checkout_origin(o, production=production) for o in origins))
    return await db.get(
        conn,
        CheckoutConfig,
        "UPDATE merchants SET checkout_origins = %(origins)s, updated_at = now()"
        " WHERE id = %(id)s RETURNING checkout_origins AS allowed_origins",
        {"id": merchant_id, "origins": normalised},
        missing="Merchant not found",
    )
