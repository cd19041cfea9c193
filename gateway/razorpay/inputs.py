"""What /v1 accepts, read the way Razorpay's SDKs and docs send it: amounts as integers or digit
strings, flags as true/false/1/0/"1"/"0", notes as an object (or the empty list PHP-style
clients send), list windows as count/skip/from/to. A refusal names the field at fault."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gateway import errors, pagination

MAX_NOTES = 15
MAX_NOTE_KEY = 64
MAX_NOTE_TEXT = 512
MAX_NOTE_NUMBER = 2**53
MAX_RECEIPT = 40  # Razorpay's limit on a receipt
MAX_AMOUNT = 10**12
MAX_COUNT = 100
# Razorpay's own bounds for from/to (2000-01-01 .. 2121-01-01).
MIN_TIME = 946684800
MAX_TIME = 4765046400


class Invalid(errors.BadRequest):
    """A 400 that names the request field at fault (Razorpay's error `field`)."""

    def __init__(self, description: str, field: str | None = None) -> None:
        super().__init__(description)
        self.field = field


def body_object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object")
    return body


def integer(value: Any, field: str) -> int:
    """An integer, or a string of digits (Razorpay's docs send amounts as "100")."""
    if isinstance(value, bool):
        raise Invalid(f"The {field} must be an integer.", field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    raise Invalid(f"The {field} must be an integer.", field)


def amount(value: Any, field: str = "amount", *, minimum: int = 1) -> int:
    found = integer(value, field)
    if found < minimum:
        raise Invalid(
            f"The {field} must be at least INR {minimum // 100}.{minimum % 100:02d}"
            if minimum >= 100
            else f"The {field} must be at least {minimum}.",
            field,
        )
    if found > MAX_AMOUNT:
        raise Invalid(f"The {field} may not be greater than {MAX_AMOUNT}.", field)
    return found


_TRUE = (True, 1, "1", "true")
_FALSE = (False, 0, "0", "false")


def flag(value: Any, field: str) -> bool:
    """true/false, 1/0 and "1"/"0" (the SDKs' docstrings still say `payment_capture: 0/1`)."""
    # bool is an int: True == 1, so one membership test covers both spellings.
    if isinstance(value, bool | int | str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise Invalid(f"The {field} field must be true or false.", field)


def text(value: Any, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid(f"The {field} must be a string.", field)
    if len(value) > max_length:
        raise Invalid(f"The {field} may not be greater than {max_length} characters.", field)
    return value


def currency(value: Any) -> str:
    if value is None or value == "INR":
        return "INR"
    raise Invalid("Currency is not supported; only INR is", "currency")


def notes(value: Any, field: str = "notes") -> dict[str, Any]:
    """Flat and bounded, as the classic API's notes (they are the same column)."""
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"The {field} must be an object of key-value pairs.", field)
    if len(value) > MAX_NOTES:
        raise Invalid(f"The {field} may not have more than {MAX_NOTES} items.", field)
    for key, item in value.items():
        if len(key) > MAX_NOTE_KEY or "\x00" in key:
            raise Invalid(f"The {field} keys may be at most {MAX_NOTE_KEY} characters.", field)
        if isinstance(item, str):
            if len(item) > MAX_NOTE_TEXT or "\x00" in item:
                raise Invalid(
                    f"The {field} values may be at most {MAX_NOTE_TEXT} characters.", field
                )
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > MAX_NOTE_NUMBER:
                raise Invalid(f"The {field} numbers must be within ±2^53.", field)
        elif item is not None and not isinstance(item, bool):
            raise Invalid(f"The {field} values must be strings, numbers or booleans.", field)
    return value


@dataclasses.dataclass(frozen=True)
class Window:
    """A list's page: `count` newest rows after skipping `skip`, created within [from, to]."""

    count: int
    skip: int
    since: int | None
    until: int | None


def window(query: Mapping[str, str], *, default_count: int = 10) -> Window:
    """count (1-100, default 10), skip, from/to in unix seconds. Anything else in the query is
    ignored: the SDKs add expand[] (Node even as expand[expand[]]) and filters we do not have."""

    def number(name: str) -> int | None:
        raw = query.get(name)
        return None if raw is None or raw == "" else integer(raw, name)

    count = number("count")
    if count is None:
        count = default_count
    if count > MAX_COUNT:
        raise Invalid(f"The count may not be greater than {MAX_COUNT}.", "count")
    if count < 1:
        raise Invalid("The count must be at least 1.", "count")
    skip = number("skip") or 0
    if skip > pagination.MAX_OFFSET:
        raise Invalid(f"The skip may not be greater than {pagination.MAX_OFFSET}.", "skip")
    since, until = number("from"), number("to")
    for name, moment in (("from", since), ("to", until)):
        if moment is not None and not MIN_TIME <= moment <= MAX_TIME:
            raise Invalid(f"{name} must be between {MIN_TIME} and {MAX_TIME}", name)
    return Window(count, skip, since, until)
