"""Public ids: a prefix and 16 alphanumerics from a CSPRNG."""

from __future__ import annotations

import re
import secrets
import string

from gateway import errors

PREFIXES = ("order", "pay", "rfnd", "evt")
ALPHABET = string.ascii_letters + string.digits


def random_string(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


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
