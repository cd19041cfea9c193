"""Public ids: a prefix and 16 alphanumerics from a CSPRNG."""

from __future__ import annotations

import secrets
import string

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
