"""Payment instruments: what a payer sends (a VPA or a card) and the checks it must pass, in the
contract's order: method → VPA / card fields → 13-19 digits + Luhn → expiry. Pure functions.

Only a `Instrument` leaves this module, and it holds no card number and no CVV: the network and
the last four digits are all that survive validation."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from gateway import errors

METHODS = ("upi", "card")
VPA = re.compile(r"[a-zA-Z0-9._-]+@[a-zA-Z0-9]+")
CVV = re.compile(r"[0-9]{3,4}")
DIGITS = re.compile(r"[0-9]+")
SEPARATORS = re.compile(r"[\s-]")
MAX_VPA_LENGTH = 255


@dataclass(frozen=True)
class CardInput:
    """A card as sent. repr=False keeps the number and CVV out of any repr that gets logged."""

    number: str | None = field(default=None, repr=False)
    expiry_month: str | None = None
    expiry_year: str | None = None
    cvv: str | None = field(default=None, repr=False)
    holder_name: str | None = None


@dataclass(frozen=True)
class PaymentRequest:
    """A payment as sent, before any check (the order is looked up first, then the rest)."""

    order_id: str | None
    method: str | None
    vpa: str | None = None
    card: CardInput | None = None


@dataclass(frozen=True)
class CardSummary:
    """All that survives validation: the network and the last four digits."""

    network: str
    last4: str


@dataclass(frozen=True)
class Instrument:
    """A validated method: what may be stored."""

    method: str
    vpa: str | None = None
    card: CardSummary | None = None


def check_vpa(vpa: str) -> str:
    # fullmatch: `$` would also accept a trailing newline and store it. Too long is just as
    # invalid a VPA as a malformed one.
    if len(vpa) > MAX_VPA_LENGTH or not VPA.fullmatch(vpa):
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


def _expiry(month: str, year: str, today: dt.date) -> None:
    # Only ASCII digits are digits: str.isdigit() also says yes to superscripts and to
    # Arabic-Indic digits, which int() then misreads or refuses.
    month, year = month.strip(), year.strip()
    if not (DIGITS.fullmatch(month) and DIGITS.fullmatch(year) and len(year) in (2, 4)):
        raise errors.ExpiredCard("Invalid card expiry date")
    m, y = int(month), int(year)
    if not 1 <= m <= 12:
        raise errors.ExpiredCard("Invalid card expiry month")
    if len(year) == 2:
        y += 2000
    if (y, m) < (today.year, today.month):
        raise errors.ExpiredCard("Card has expired")


def check_card(number: str, month: str, year: str, cvv: str, today: dt.date) -> CardSummary:
    """Fields (400), 13-19 digits + Luhn (INVALID_CARD), expiry (EXPIRED_CARD)."""
    if not CVV.fullmatch(cvv.strip()):
        raise errors.BadRequest("Invalid CVV")
    digits = SEPARATORS.sub("", number)
    if not (DIGITS.fullmatch(digits) and 13 <= len(digits) <= 19):
        raise errors.InvalidCard("Invalid card number")
    if not luhn_ok(digits):
        raise errors.InvalidCard("Invalid card number")
    _expiry(month, year, today)
    return CardSummary(network=network(digits), last4=digits[-4:])


def validate(request: PaymentRequest, today: dt.date) -> Instrument:
    """The contract's order after the order lookup: method → VPA / card fields → Luhn → expiry."""
    if request.method not in METHODS:
        raise errors.BadRequest("Invalid payment method; use 'upi' or 'card'")
    if request.method == "upi":
        if not request.vpa:
            raise errors.BadRequest("vpa is required for UPI payments")
        return Instrument("upi", vpa=check_vpa(request.vpa))
    card = request.card or CardInput()
    fields = (
        ("number", card.number),
        ("expiry_month", card.expiry_month),
        ("expiry_year", card.expiry_year),
        ("cvv", card.cvv),
    )
    missing = [name for name, value in fields if not value]
    if missing or not (card.number and card.expiry_month and card.expiry_year and card.cvv):
        raise errors.BadRequest(f"Missing card fields: {', '.join(missing)}")
    summary = check_card(card.number, card.expiry_month, card.expiry_year, card.cvv, today)
    return Instrument("card", card=summary)
