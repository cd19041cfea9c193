"""Idempotency-Key for creation requests.

PostgreSQL is the truth. A request first claims (merchant, key) with a short lease and a random
token; the resource's own transaction then marks the key completed with the exact response bytes,
guarded by that token, so the resource and its stored response commit together or not at all.
Redis only caches completed responses in front of PostgreSQL and may be down at any time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import cache, db, errors, instruments

log = logging.getLogger("gateway.idempotency")

TTL = dt.timedelta(hours=24)
KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
CACHE_PREFIX = "idem:v1:"
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempt:
    """One request carrying an Idempotency-Key."""

    merchant_id: uuid.UUID
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Outcome:
    status: int
    body: bytes
    replayed: bool


@dataclass(frozen=True)
class Created:
    """What a creation call produced: the response to store and the resource it names."""

    status: int
    body: bytes
    resource_id: str | None


def check_key(value: str) -> str:
    if not KEY.match(value):
        raise errors.BadRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    return value


FINGERPRINT_PURPOSE = "idempotency-fingerprint"

# Top-level fields that may carry card data, in either of the contract's two card forms. None of
# them reaches the fingerprint as sent; the card they describe does, normalised (see _card).
_CARD_FIELDS = ("card", "card_number", "card_expiry", "card_cvv", "card_holder_name")


def fingerprint(key: bytes, method: str, path: str, body: bytes) -> str:
    """What identifies a request under its Idempotency-Key: HMAC-SHA256, under `key` (the
    server's derived key for this purpose), of the method, the path and the canonical body
    (sorted keys, compact, so key order and whitespace do not make a retry look different).

    The fingerprint is kept 24 h in PostgreSQL and Redis beside a response that names the
    order, the card network and the last four digits. An unkeyed hash of the raw body gave the
    rest of the card back by offline search (BIN + last4 leave ~10^5 numbers, a CVV 10^3), so:
    the key makes guessing impossible without the server's secret, and card bodies are
    normalised first so that the CVV and the full card number are never hashed at all."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        canonical = body  # refused by validation before any key is claimed; keyed all the same
    else:
        if isinstance(parsed, dict):
            parsed = _without_card_data(key, parsed)
        canonical = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS) if body else b""
    message = method.upper().encode() + b"\n" + path.encode() + b"\n" + canonical
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _without_card_data(key: bytes, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with its card fields replaced by the card they mean, as the payments API reads
    them: the nested `card` object when one is sent, else the flat `card_*` fields of a card
    payment. Fields the API ignores (flat fields beside a nested card, card fields of a UPI
    payment) are dropped, so they neither change the request nor get hashed."""
    rest = {name: value for name, value in body.items() if name not in _CARD_FIELDS}
    nested = body.get("card")
    if isinstance(nested, dict):
        rest["card"] = _card(
            key,
            nested.get("number"),
            nested.get("expiry_month"),
            nested.get("expiry_year"),
            nested.get("holder_name"),
        )
    elif nested is not None:
        rest["card"] = _opaque(key, nested)  # refused by validation; never hashed as sent
    elif body.get("method") == "card":
        month = year = None
        expiry = body.get("card_expiry")
        if isinstance(expiry, str):
            month, _, year = expiry.partition("/")
        elif expiry is not None:
            month = _opaque(key, expiry)
        rest["card"] = _card(
            key, body.get("card_number"), month, year, body.get("card_holder_name")
        )
    return rest


def _card(key: bytes, number: object, month: object, year: object, holder: object) -> object:
    """One card, whichever form it came in: a keyed HMAC of its digits (the same digits the
    validator reads, so "4111 1111 …" and 4111111111111111 are one card) and its expiry as
    (month, four-digit year). The CVV is left out: it never decides which payment a retry
    means, and a value with 10^3 possibilities must not sit beside anything derived from it."""
    return {
        "pan": _pan(key, number),
        "expiry": [_expiry_part(month, 0), _expiry_part(year, 2000)],
        "holder_name": holder,
    }


def _pan(key: bytes, number: object) -> str | None:
    if number is None:
        return None
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    if not isinstance(number, str):
        return _opaque(key, number)
    digits = instruments.SEPARATORS.sub("", number)
    return hmac.new(key, b"pan\n" + digits.encode(), hashlib.sha256).hexdigest()


def _expiry_part(value: object, century: int) -> object:
    """12 / "12" / " 12" are one month; "99" and "2099" one year (as the validator reads them).
    Anything else is kept as sent: validation refuses it, and it is only ever hashed with the
    key."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and instruments.DIGITS.fullmatch(value.strip()):
        digits = value.strip()
        return int(digits) + (century if len(digits) == 2 else 0)
    return value


def _opaque(key: bytes, value: object) -> str:
    return hmac.new(
        key, b"opaque\n" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS), hashlib.sha256
    ).hexdigest()


def _cache_name(attempt: Attempt) -> str:
    key_hash = hashlib.sha256(attempt.key.encode()).hexdigest()
    return f"{CACHE_PREFIX}{attempt.merchant_id}:{key_hash}"


def _encode(fp: str, status: int, body: bytes) -> bytes:
    return f"{fp}{status:03d}".encode() + body


def _decode(value: bytes) -> tuple[str, int, bytes] | None:
    if len(value) < 67 or not value[64:67].isdigit():
        return None
    return value[:64].decode(), int(value[64:67]), value[67:]


def _mismatch() -> errors.IdempotencyKeyMismatch:
    return errors.IdempotencyKeyMismatch(
        "Idempotency-Key was already used with a different request"
    )


def _replay(attempt: Attempt, fp: str, status: int, body: bytes) -> Outcome:
    if fp != attempt.fingerprint:
        raise _mismatch()
    return Outcome(status, body, replayed=True)


async def run(
    conn: db.Conn,
    redis: cache.Client,
    attempt: Attempt,
    create: Callable[[], Awaitable[Created]],
    *,
    lease_seconds: float,
) -> Outcome:
    """Replay the stored response of `attempt`'s key, or run `create` once under the key.

    `create` runs inside a transaction opened here (its own `conn.transaction()` becomes a
    savepoint), and the key's completion is written in that same transaction."""
    name = _cache_name(attempt)
    cached = await cache.call(redis, lambda r: r.get(name))
    if isinstance(cached, bytes) and (decoded := _decode(cached)) is not None:
        return _replay(attempt, *decoded)
    claimed = await _claim(conn, attempt, lease_seconds)
    if isinstance(claimed, Outcome):
        return claimed
    token = claimed
    try:
        async with conn.transaction():
            created = await create()
            expires_at = await _complete(conn, attempt, token, created)
    except Exception:
        # Nothing was committed (validation error, lost race, database trouble): free the key
        # so that a corrected retry works. If even this fails, the lease runs out instead.
        await _release(conn, attempt, token)
        raise
    ttl_ms = int((expires_at - dt.datetime.now(dt.UTC)).total_seconds() * 1000)
    if ttl_ms > 0:
        value = _encode(attempt.fingerprint, created.status, created.body)
        await cache.call(redis, lambda r: r.set(name, value, px=ttl_ms))
    return Outcome(created.status, created.body, replayed=False)


async def _claim(conn: db.Conn, attempt: Attempt, lease_seconds: float) -> uuid.UUID | Outcome:
    """Our token when the key is ours to run; a replay when it completed; else an error.

    One statement claims a new key, an expired one (expired = new) or one whose lease ran out
    (its request died before committing anything)."""
    params = {
        "m": attempt.merchant_id,
        "key": attempt.key,
        "fp": attempt.fingerprint,
        "token": uuid.uuid4(),
        "lease": lease_seconds,
        "ttl": TTL.total_seconds(),
    }
    for _ in range(_CLAIM_ATTEMPTS):
        row = await db.fetch_one(
            conn,
            "INSERT INTO idempotency_keys AS k (merchant_id, key, fingerprint, state, lock_token,"
            " locked_until, expires_at) VALUES (%(m)s, %(key)s, %(fp)s, 'in_progress',"
            " %(token)s, now() + make_interval(secs => %(lease)s),"
            " now() + make_interval(secs => %(ttl)s))"
            " ON CONFLICT (merchant_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " state = 'in_progress', lock_token = EXCLUDED.lock_token,"
            " locked_until = EXCLUDED.locked_until, response_status = NULL,"
            " response_body = NULL, resource_id = NULL, created_at = now(),"
            " expires_at = EXCLUDED.expires_at"
            " WHERE k.expires_at <= now() OR (k.state = 'in_progress' AND k.locked_until <= now())"
            " RETURNING lock_token",
            params,
        )
        if row is not None:
            token: uuid.UUID = row["lock_token"]
            return token
        existing = await db.fetch_one(
            conn,
            "SELECT fingerprint, state, response_status, response_body FROM idempotency_keys"
            " WHERE merchant_id = %(m)s AND key = %(key)s AND expires_at > now()"
            " AND (state = 'completed' OR locked_until > now())",
            params,
        )
        if existing is None:
            continue  # released, expired or abandoned between the two statements: claim again
        if existing["state"] == "completed":
            return _replay(
                attempt,
                existing["fingerprint"],
                existing["response_status"],
                bytes(existing["response_body"]),
            )
        if existing["fingerprint"] != attempt.fingerprint:
            raise _mismatch()
        break
    raise errors.IdempotencyKeyInUse(
        "A request with this Idempotency-Key is still being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _complete(
    conn: db.Conn, attempt: Attempt, token: uuid.UUID, created: Created
) -> dt.datetime:
    """Store the response, in the resource's transaction. The token guard means a request whose
    lease ran out and was taken over cannot also commit: it rolls back instead."""
    row = await db.fetch_one(
        conn,
        "UPDATE idempotency_keys SET state = 'completed', response_status = %(status)s,"
        " response_body = %(body)s, resource_id = %(rid)s, lock_token = NULL,"
        " locked_until = NULL"
        " WHERE merchant_id = %(m)s AND key = %(key)s AND lock_token = %(token)s"
        " AND state = 'in_progress' RETURNING expires_at",
        {
            "m": attempt.merchant_id,
            "key": attempt.key,
            "token": token,
            "status": created.status,
            "body": created.body,
            "rid": created.resource_id,
        },
    )
    if row is None:
        raise errors.IdempotencyKeyInUse(
            "This request's hold on its Idempotency-Key expired; retry to get the result",
            headers={"Retry-After": "1"},
        )
    expires_at: dt.datetime = row["expires_at"]
    return expires_at


async def _release(conn: db.Conn, attempt: Attempt, token: uuid.UUID) -> None:
    try:
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE merchant_id = %(m)s AND key = %(key)s"
            " AND lock_token = %(token)s AND state = 'in_progress'",
            {"m": attempt.merchant_id, "key": attempt.key, "token": token},
        )
    except Exception as error:  # the lease expiry is the fallback
        log.warning("could not release idempotency key: %s", type(error).__name__)


async def purge_expired(conn: db.Conn, batch: int = 5000) -> int:
    """Delete expired keys in small batches (short locks, no long transaction)."""
    total = 0
    while True:
        cur = await conn.execute(
            "DELETE FROM idempotency_keys WHERE (merchant_id, key) IN ("
            " SELECT merchant_id, key FROM idempotency_keys WHERE expires_at <= now()"
            " LIMIT %(batch)s FOR UPDATE SKIP LOCKED)",
            {"batch": batch},
        )
        total += cur.rowcount
        if cur.rowcount < batch:
            return total
