"""Attack: recover card data from stored Idempotency-Key fingerprints (issue 11, High 2).

A fingerprint is kept 24 h in PostgreSQL (idempotency_keys.fingerprint) and Redis (the first 64
bytes of the cached value). Whoever reads either one (a backup, a replica, a Redis dump) also
reads the stored response, which names the order, the card network and the last four digits.
When the fingerprint was a plain SHA-256 of the request body, everything else in that body was
a small offline search away: a card number has only the 6 digits between BIN and last4 unknown
(10^5 Luhn-valid candidates), a CVV 10^3, an expiry a few dozen. These tests run that search
with 3 unknown digits (so it finishes in about a second) and must find nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from typing import Any

import httpx
import orjson
import pytest

from gateway import cache, db, idempotency, instruments, keys, merchants, settings
from tests.helpers import new_order

PATH = "/api/v1/payments"


def _random_visa() -> str:
    """A Luhn-valid 16-digit Visa with a random middle and a random check digit."""
    while True:
        number = "411111" + "".join(str(secrets.randbelow(10)) for _ in range(10))
        if instruments.luhn_ok(number):
            return number


def _unkeyed(body: bytes) -> bytes:
    """The construction stored before the fix: SHA-256 of method, path and the canonical body."""
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"POST\n" + PATH.encode() + b"\n" + canonical).digest()


def _brute_force(
    stored: str, template: dict[str, Any], slots: dict[str, list[str]]
) -> dict[str, str] | None:
    """Try every combination of `slots` (placeholder text in `template` → candidates) against
    `stored` with the unkeyed construction. The SHA-256 state of each prefix is reused, so
    ~1.2 M candidates take about a second."""
    target = bytes.fromhex(stored)
    canonical = b"POST\n" + PATH.encode() + b"\n"
    canonical += orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    names = sorted(slots, key=lambda name: canonical.index(name.encode()))
    pattern = b"|".join(re.escape(name.encode()) for name in names)
    segments = re.split(pattern, canonical)
    assert len(segments) == len(names) + 1
    candidates = [[value.encode() for value in slots[name]] for name in names]

    def walk(level: int, state: Any, chosen: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
        tail = segments[level + 1]
        last = level == len(names) - 1
        for value in candidates[level]:
            h = state.copy()
            h.update(value + tail)
            if last:
                if h.digest() == target:
                    return (*chosen, value)
            elif (found := walk(level + 1, h, (*chosen, value))) is not None:
                return found
        return None

    found = walk(0, hashlib.sha256(segments[0]), ())
    if found is None:
        return None
    return {name: value.decode() for name, value in zip(names, found, strict=True)}


def _pan_candidates(pan: str) -> list[str]:
    """What the attacker knows: the first 9 digits (BIN + 3, to keep the test fast) and the
    last 4, from the stored response. Only Luhn-valid numbers are worth trying."""
    known, last4 = pan[:9], pan[-4:]
    every = (f"{known}{middle:03d}{last4}" for middle in range(1000))
    return [number for number in every if instruments.luhn_ok(number)]


async def _stored(
    conn: db.Conn, config: settings.Settings, merchant: merchants.Merchant, key: str
) -> tuple[dict[str, Any], bytes]:
    row = await db.fetch_one(
        conn,
        "SELECT * FROM idempotency_keys WHERE merchant_id = %(m)s AND key = %(k)s",
        {"m": merchant.id, "k": key},
    )
    assert row is not None and row["state"] == "completed"
    redis = cache.connect(config.redis_url)
    try:
        name = (
            f"{idempotency.CACHE_PREFIX}{merchant.id}:{hashlib.sha256(key.encode()).digest().hex()}"
        )
        value = await redis.get(name)
    finally:
        await redis.aclose()
    assert isinstance(value, bytes), "the completed response should be cached in Redis"
    return row, value


def _assert_no_raw_card_data(text: str, pan: str, cvv: str) -> None:
    assert pan not in text
    assert pan[6:12] not in text  # the digits the response never shows
    # Whole-word match: a hex fingerprint or a random id may contain the digits by chance.
    assert not re.search(rf"(?<![0-9A-Za-z]){cvv}(?![0-9A-Za-z])", text), "CVV stored"


FORMS = {
    "nested": lambda order_id, pan, cvv, month: {
        "order_id": order_id,
        "method": "card",
        "card": {
            "number": pan,
            "expiry_month": month,
            "expiry_year": "2099",
            "cvv": cvv,
            "holder_name": "Asha Rao",
        },
    },
    "flat": lambda order_id, pan, cvv, month: {
        "order_id": order_id,
        "method": "card",
        "card_number": pan,
        "card_expiry": f"{month}/99",
        "card_cvv": cvv,
        "card_holder_name": "Asha Rao",
    },
}


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_stored_fingerprints_do_not_give_back_the_card_offline(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    merchant: merchants.Merchant,
    form: str,
) -> None:
    order_id = await new_order(client, auth)
    pan, cvv, month = (
        _random_visa(),
        f"{secrets.randbelow(1000):03d}",
        f"{1 + secrets.randbelow(12):02d}",
    )
    key = "card-" + uuid.uuid4().hex
    body = FORMS[form](order_id, pan, cvv, month)
    r = await client.post(PATH, json=body, headers={**auth, "Idempotency-Key": key})
    assert r.status_code == 201, r.text
    row, cached = await _stored(conn, config, merchant, key)

    # What a reader of the row or the Redis value holds, and what it tells them.
    stored = row["fingerprint"]
    assert cached[:64].decode() == stored
    response = orjson.loads(bytes(row["response_body"]))
    assert response["order_id"] == order_id and response["card_last4"] == pan[-4:]
    _assert_no_raw_card_data(repr(row) + bytes(row["response_body"]).decode(), pan, cvv)
    _assert_no_raw_card_data(cached.decode(), pan, cvv)

    # The attack: BIN + last4 known, 3 middle digits, the CVV and the expiry month unknown.
    template = FORMS[form](order_id, "PANSLOT", "CVVSLOT", "MONTHSLOT")
    slots = {
        "PANSLOT": _pan_candidates(pan),
        "CVVSLOT": [f"{c:03d}" for c in range(1000)],
        "MONTHSLOT": [f"{m:02d}" for m in range(1, 13)],
    }
    assert pan in slots["PANSLOT"]
    recovered = _brute_force(stored, template, slots)
    assert recovered is None, f"card recovered offline from the stored fingerprint: {recovered}"
    # ... and the construction itself is not the old one under another name.
    assert stored != _unkeyed(orjson.dumps(body)).hex()

    # The fingerprint is keyed: the server's key reproduces it, any other key does not.
    raw = orjson.dumps(body)
    server_key = keys.derive(config, idempotency.FINGERPRINT_PURPOSE)
    assert idempotency.fingerprint(server_key, "POST", PATH, raw) == stored
    assert idempotency.fingerprint(secrets.token_bytes(32), "POST", PATH, raw) != stored
