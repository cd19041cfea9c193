"""Public ids: a prefix and 16 alphanumerics from a CSPRNG."""

from __future__ import annotations

import re
import secrets
import string

from gateway import errors

PREFIXES = ("order", "pay", "rfnd", "evt")
ALPHABET = string.ascii_letters + string.digits


# 248 = 4 * 62: bytes below it map onto the alphabet without bias; the rest are dropped.
_UNBIASED = bytes(range(248))
_MAP = bytes.maketrans(_UNBIASED, (ALPHABET * 4).encode())
_DROP = bytes(range(248, 256))


def random_string(length: int) -> str:
    """`length` characters of [A-Za-z0-9] from the OS CSPRNG: one urandom call for the lot
    (secrets.choice per character cost a system call each)."""
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 8).translate(_MAP, _DROP)
    return out[:length].decode()


def new(prefix: str) -> str:
    return f"{prefix}_{random_string(16)}"


def order() -> str:
    return new("order")


def payment() -> str:
    return new("pay")


def refund() -> str:
    return new("rfnd")


def event() -> str:
    return new("evt")


_SHAPES = {prefix: re.compile(prefix + r"_[A-Za-z0-9]{16}") for prefix in PREFIXES}


def require(prefix: str, value: str, missing: str) -> str:
    """`value` if it has the shape of a `prefix` id, else NOT_FOUND_ERROR: an id that cannot
    exist is simply not found (and a NUL or an over-long string never reaches the database)."""
    if _SHAPES[prefix].fullmatch(value) is None:
        raise errors.NotFound(missing)
    return value
