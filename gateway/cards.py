"""Card and VPA checks: pure functions. Nothing here keeps a number or a CVV."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gateway import errors

VPA = re.compile(r"^[a-zA-Z0-9._-]+@[a-zA-Z0-9]+$")
CVV = re.compile(r"^[0-9]{3,4}$")


@dataclass(frozen=True)
class CardSummary:
    """All that survives validation: the network and the last four digits."""

    network: str
    last4: str


def check_vpa(vpa: str) -> str:
    if not VPA.match(vpa):
        raise errors.InvalidVpa("Invalid VPA format")
    return vpa


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def network(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    two = int(digits[:2]) if len(digits) >= 2 else -1
    if 51 <= two <= 55:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if two in (60, 65) or 81 <= two <= 89:
        return "rupay"
    return "unknown"


def _expiry(month: str, year: str, today: date) -> None:
    month, year = month.strip(), year.strip()
    if not (month.isdigit() and year.isdigit() and len(year) in (2, 4)):
        raise errors.ExpiredCard("Invalid card expiry date")
    m, y = int(month), int(year)
    if not 1 <= m <= 12:
        raise errors.ExpiredCard("Invalid card expiry month")
    if len(year) == 2:
        y += 2000
    if (y, m) < (today.year, today.month):
        raise errors.ExpiredCard("Card has expired")


def check_card(number: str, month: str, year: str, cvv: str, today: date) -> CardSummary:
    """Contract order: fields (400), 13-19 digits + Luhn (INVALID_CARD), expiry (EXPIRED_CARD)."""
    if not CVV.match(cvv.strip()):
        raise errors.BadRequest("Invalid CVV")
    digits = re.sub(r"[\s-]", "", number)
    if not (digits.isascii() and digits.isdigit() and 13 <= len(digits) <= 19):
        raise errors.InvalidCard("Invalid card number")
    if not luhn_ok(digits):
        raise errors.InvalidCard("Invalid card number")
    _expiry(month, year, today)
    return CardSummary(network=network(digits), last4=digits[-4:])
