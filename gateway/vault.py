"""Secrets kept at rest: sealed with AES-256-GCM, and compared through a keyed MAC.

A merchant's API secret and webhook secrets must come back in clear (the dashboard shows the API
secret, the worker signs with the webhook secrets, Razorpay-style signatures use the API secret),
so they are encrypted rather than hashed. The key is derived from the server key, which never
enters the database: a dump, a backup or a read-only SQL injection yields ciphertext only.

Each sealed value is bound to its place (`column` and `row`) as AES-GCM associated data, so a
ciphertext copied to another merchant's row, or from one column to another, fails to open instead
of handing over someone else's secret.

Authentication must not decrypt on every request: `mac` is an HMAC of the secret under a second
derived key, bound to the row the same way, stored beside the ciphertext and compared in
constant time."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway import keys, settings

SEAL_PURPOSE = "secrets-at-rest"
MAC_PURPOSE = "api-secret-mac"
# The first byte of every sealed value: a later key or algorithm gets a new version, and values of
# both kinds can be read while a re-encryption runs.
VERSION = b"\x01"
NONCE_BYTES = 12  # AES-GCM's standard nonce; random, so a key seals well under 2**32 values
MAC_BYTES = 32


class Unsealable(Exception):
    """A stored value that does not open here: sealed under another server key, moved from
    another row or column, or altered. Says where, never what."""

    def __init__(self, column: str, row: uuid.UUID) -> None:
        super().__init__(f"{column} of {row} does not open under this server key")


@functools.lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


def _context(column: str, row: uuid.UUID) -> bytes:
    # The row id has a fixed length (16 bytes), so column and row cannot run into each other.
    return VERSION + row.bytes + column.encode("ascii")


def seal(config: settings.Settings, plaintext: str, *, column: str, row: uuid.UUID) -> bytes:
    """VERSION + nonce + ciphertext and tag of `plaintext`, openable only as `column` of `row`."""
    nonce = os.urandom(NONCE_BYTES)
    aead = _aead(keys.derive(config, SEAL_PURPOSE))
    return VERSION + nonce + aead.encrypt(nonce, plaintext.encode(), _context(column, row))


def open_(config: settings.Settings, sealed: bytes | None, *, column: str, row: uuid.UUID) -> str:
    """The plaintext `seal` was given for this `column` of this `row`, else Unsealable."""
    if not sealed or sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise Unsealable(column, row)
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    aead = _aead(keys.derive(config, SEAL_PURPOSE))
    try:
        return aead.decrypt(nonce, body, _context(column, row)).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise Unsealable(column, row) from None


def mac(config: settings.Settings, secret: str, *, row: uuid.UUID) -> bytes:
    """HMAC-SHA256 of `secret` for `row`: what authentication compares instead of decrypting.
    Keyed, so a stolen table cannot be brute-forced offline without the server key."""
    message = row.bytes + secret.encode()
    return hmac.new(keys.derive(config, MAC_PURPOSE), message, hashlib.sha256).digest()


def mac_matches(config: settings.Settings, secret: str, *, row: uuid.UUID, stored: bytes) -> bool:
    """Constant-time comparison of `secret` with a stored MAC; the same work whatever matches."""
    return hmac.compare_digest(mac(config, secret, row=row), stored)
