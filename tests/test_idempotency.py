"""Idempotency-Key: byte-exact replays, mismatches, races, crashed requests, expiry, and all of
it with Redis unreachable."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from gateway import cache, db, errors, idempotency, keys, merchants, orders, settings
from tests.conftest import DATABASE_URL, assert_error
from tests.helpers import (
    UNREACHABLE_REDIS,
    app_client,
    new_order,
    successful_payment,
    wait_until,
)


def _key() -> str:
    return "idem-" + uuid.uuid4().hex


def _with_key(auth: dict[str, str], key: str) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key}


async def _count(conn: db.Conn, query: str, **params: Any) -> int:
    row = await db.fetch_one(conn, query, params)
    assert row is not None
    return int(row["n"])


async def _forget_cached(merchant: merchants.Merchant, key: str) -> None:
    """Drop the Redis copy, so the next request has to go to PostgreSQL."""
    client = cache.connect(settings.load().redis_url)
    try:
        digest = hashlib.sha256(key.encode()).hexdigest()
        await client.delete(f"{idempotency.CACHE_PREFIX}{merchant.id}:{digest}")
    finally:
        await client.aclose()


@pytest.fixture
async def redis_down_client(config: settings.Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(config.model_copy(update={"redis_url": UNREACHABLE_REDIS})) as c:
        yield c


@pytest.mark.parametrize("from_cache", [True, False], ids=["redis", "postgres"])
async def test_replay_returns_the_first_response_byte_for_byte_and_creates_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    merchant: merchants.Merchant,
    from_cache: bool,
) -> None:
    order_id = await new_order(client, auth)
    key = _key()
    body = {"order_id": order_id, "method": "upi", "vpa": "asha@okbank"}
    first = await client.post("/api/v1/payments", json=body, headers=_with_key(auth, key))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    if not from_cache:
        await _forget_cached(merchant, key)
    # Same request with its keys reordered and other whitespace: the same request.
    raw = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = await client.post(
        "/api/v1/payments",
        content=raw,
        headers={**_with_key(auth, key), "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    n = await _count(conn, "SELECT count(*) AS n FROM payments WHERE order_id = %(o)s", o=order_id)
    assert n == 1
    jobs = await _count(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE args->>'payment_id' = %(p)s",
        p=first.json()["id"],
    )
    assert jobs == 1


async def test_orders_and_refunds_honour_the_key_too(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    key = _key()
    first = await client.post("/api/v1/orders", json={"amount": 777}, headers=_with_key(auth, key))
    again = await client.post("/api/v1/orders", json={"amount": 777}, headers=_with_key(auth, key))
    assert first.status_code == again.status_code == 201 and first.content == again.content
    p = await successful_payment(client, auth, conn, config, amount=10000)
    url = f"/api/v1/payments/{p['id']}/refunds"
    refunds = [
        await client.post(url, json={"amount": 4000}, headers=_with_key(auth, "refund-1"))
        for _ in range(3)
    ]
    assert [r.status_code for r in refunds] == [201, 201, 201]
    assert refunds[1].content == refunds[0].content == refunds[2].content
    n = await _count(conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", p=p["id"])
    assert n == 1
    got = (await client.get(f"/api/v1/payments/{p['id']}", headers=auth)).json()
    assert got["amount_refunded"] == 4000


async def test_same_key_with_a_different_request_is_a_mismatch(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    key = _key()
    first = await client.post("/api/v1/orders", json={"amount": 500}, headers=_with_key(auth, key))
    assert first.status_code == 201
    other_body = await client.post(
        "/api/v1/orders", json={"amount": 501}, headers=_with_key(auth, key)
    )
    assert_error(other_body, 422, "IDEMPOTENCY_KEY_MISMATCH")
    order_id = first.json()["id"]
    other_path = await client.post(
        "/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "a@bank"},
        headers=_with_key(auth, key),
    )
    assert_error(other_path, 422, "IDEMPOTENCY_KEY_MISMATCH")
    n = await _count(conn, "SELECT count(*) AS n FROM payments WHERE order_id = %(o)s", o=order_id)
    assert n == 0


async def test_keys_are_scoped_to_the_merchant(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    key = _key()
    mine = await client.post("/api/v1/orders", json={"amount": 500}, headers=_with_key(auth, key))
    theirs = await client.post(
        "/api/v1/orders", json={"amount": 500}, headers=_with_key(other_auth, key)
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\xe9", "tab\there"])
async def test_malformed_keys_are_rejected(
    client: httpx.AsyncClient, auth: dict[str, str], key: str
) -> None:
    headers = {k.encode(): v.encode() for k, v in auth.items()}
    headers[b"Idempotency-Key"] = key.encode("latin-1")
    r = await client.post("/api/v1/orders", json={"amount": 500}, headers=headers)
    assert_error(r, 400, "BAD_REQUEST_ERROR")


async def test_longest_allowed_key_works(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = "k" * 254 + "~"
    for _ in range(2):
        r = await client.post("/api/v1/orders", json={"amount": 500}, headers=_with_key(auth, key))
        assert r.status_code == 201


async def test_a_validation_error_is_not_stored_and_a_corrected_retry_works(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant
) -> None:
    order_id = await new_order(client, auth)
    key = _key()
    bad = await client.post(
        "/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "not a vpa"},
        headers=_with_key(auth, key),
    )
    assert_error(bad, 400, "INVALID_VPA")
    stored = await _count(
        conn,
        "SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = %(m)s AND key = %(k)s",
        m=merchant.id,
        k=key,
    )
    assert stored == 0
    good = await client.post(
        "/api/v1/payments",
        json={"order_id": order_id, "method": "upi", "vpa": "asha@okbank"},
        headers=_with_key(auth, key),
    )
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


async def test_a_key_still_in_progress_answers_409_and_a_crashed_ones_lease_runs_out(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant
) -> None:
    key = _key()
    body = {"amount": 4200}
    server_key = keys.derive(settings.load(), idempotency.FINGERPRINT_PURPOSE)
    fp = idempotency.fingerprint(server_key, "POST", "/api/v1/orders", json.dumps(body).encode())
    # What a request that died after claiming the key leaves behind.
    await conn.execute(
        "INSERT INTO idempotency_keys (merchant_id, key, fingerprint, state, lock_token,"
        " locked_until, expires_at) VALUES (%(m)s, %(k)s, %(fp)s, 'in_progress',"
        " gen_random_uuid(), now() + interval '1 minute', now() + interval '24 hours')",
        {"m": merchant.id, "k": key, "fp": fp},
    )
    busy = await client.post("/api/v1/orders", json=body, headers=_with_key(auth, key))
    assert_error(busy, 409, "IDEMPOTENCY_KEY_IN_USE")
    assert busy.headers["retry-after"] == "1"
    await conn.execute(
        "UPDATE idempotency_keys SET locked_until = now() - interval '1 second'"
        " WHERE merchant_id = %(m)s AND key = %(k)s",
        {"m": merchant.id, "k": key},
    )
    recovered = await client.post("/api/v1/orders", json=body, headers=_with_key(auth, key))
    assert recovered.status_code == 201 and "idempotent-replayed" not in recovered.headers
    replay = await client.post("/api/v1/orders", json=body, headers=_with_key(auth, key))
    assert replay.content == recovered.content and replay.headers["idempotent-replayed"] == "true"


async def test_a_request_that_lost_its_lease_rolls_back_instead_of_doubling(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant
) -> None:
    """A slow request whose key was taken over meanwhile must not commit a second order."""
    attempt = idempotency.Attempt(merchant.id, _key(), "0" * 64)

    async def slow_create() -> idempotency.Created:
        order = await orders.create(
            conn, merchant.id, amount=999, currency="INR", receipt="slow", notes={}
        )
        # Meanwhile its lease ran out and another request claimed the key.
        async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as other:
            await other.execute(
                "UPDATE idempotency_keys SET lock_token = gen_random_uuid()"
                " WHERE merchant_id = %(m)s AND key = %(k)s",
                {"m": merchant.id, "k": attempt.key},
            )
        return idempotency.Created(201, b"{}", order.id)

    redis = cache.connect(UNREACHABLE_REDIS)
    try:
        with pytest.raises(errors.IdempotencyKeyInUse):
            await idempotency.run(conn, redis, attempt, slow_create, lease_seconds=10)
    finally:
        await redis.aclose()
    n = await _count(
        conn,
        "SELECT count(*) AS n FROM orders WHERE merchant_id = %(m)s AND receipt = 'slow'",
        m=merchant.id,
    )
    assert n == 0


async def test_an_expired_key_behaves_as_new_and_is_purged(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant
) -> None:
    key = _key()
    first = await client.post("/api/v1/orders", json={"amount": 500}, headers=_with_key(auth, key))
    assert first.status_code == 201
    # 24 h pass: in PostgreSQL by moving expires_at, in Redis by the TTL running out.
    await conn.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
        " WHERE merchant_id = %(m)s AND key = %(k)s",
        {"m": merchant.id, "k": key},
    )
    await _forget_cached(merchant, key)
    fresh = await client.post("/api/v1/orders", json={"amount": 600}, headers=_with_key(auth, key))
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    await conn.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
        " WHERE merchant_id = %(m)s AND key = %(k)s",
        {"m": merchant.id, "k": key},
    )
    assert await idempotency.purge_expired(conn) >= 1
    left = await _count(
        conn,
        "SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = %(m)s AND key = %(k)s",
        m=merchant.id,
        k=key,
    )
    assert left == 0


async def _thirty_at_once(
    api_client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    order_id = await new_order(api_client, auth)
    key = _key()
    body = {"order_id": order_id, "method": "upi", "vpa": "asha@okbank"}

    def post() -> asyncio.Task[httpx.Response]:
        return asyncio.create_task(
            api_client.post("/api/v1/payments", json=body, headers=_with_key(auth, key))
        )

    # The race is made certain, not hoped for: this transaction holds the order row, so the
    # request that claims the key stops inside its own transaction (the payment's foreign key
    # waits for the row) and all the others arrive while it is still running.
    async with (
        await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as holder,
        holder.transaction(),
    ):
        await holder.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", (order_id,))
        tasks = [post() for _ in range(30)]

        async def first_is_waiting_on_the_row() -> bool:
            n = await _count(
                conn,
                "SELECT count(*) AS n FROM pg_stat_activity"
                " WHERE %(holder)s = ANY(pg_blocking_pids(pid))",
                holder=holder.info.backend_pid,
            )
            return n == 1

        await wait_until(first_is_waiting_on_the_row)
        await wait_until(lambda: asyncio.sleep(0, sum(t.done() for t in tasks) == 29))
        waiting = [t for t in tasks if not t.done()]
        assert len(waiting) == 1
        # Every other request was answered while the first one ran: 409, come back later.
        for t in tasks:
            if t.done():
                r = t.result()
                assert_error(r, 409, "IDEMPOTENCY_KEY_IN_USE")
                assert r.headers["retry-after"] == "1"
    original = await waiting[0]
    assert original.status_code == 201 and "idempotent-replayed" not in original.headers
    payment_id = original.json()["id"]
    n = await _count(conn, "SELECT count(*) AS n FROM payments WHERE order_id = %(o)s", o=order_id)
    assert n == 1
    jobs = await _count(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'process_payment'"
        " AND args->>'payment_id' = %(p)s",
        p=payment_id,
    )
    assert jobs == 1
    # After the race, the same request is a byte-identical replay.
    late = await api_client.post("/api/v1/payments", json=body, headers=_with_key(auth, key))
    assert late.status_code == 201 and late.content == original.content
    assert late.headers["idempotent-replayed"] == "true"


async def test_thirty_concurrent_creates_with_one_key_make_one_payment(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    await _thirty_at_once(client, auth, conn)


async def test_thirty_concurrent_creates_with_one_key_and_redis_unreachable(
    redis_down_client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    await _thirty_at_once(redis_down_client, auth, conn)


async def test_replays_and_mismatches_hold_with_redis_unreachable(
    redis_down_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = _key()
    url = "/api/v1/orders"
    first = await redis_down_client.post(url, json={"amount": 900}, headers=_with_key(auth, key))
    again = await redis_down_client.post(url, json={"amount": 900}, headers=_with_key(auth, key))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    other = await redis_down_client.post(url, json={"amount": 901}, headers=_with_key(auth, key))
    assert_error(other, 422, "IDEMPOTENCY_KEY_MISMATCH")


_CARD = {"expiry_month": "07", "expiry_year": "2099", "cvv": "123", "holder_name": "Asha Rao"}
# Same BIN and last four digits, different middle: only the number itself tells them apart.
_CARD_A = "4111111111111111"
_CARD_B = "4111110030031111"  # Luhn-valid


def _card_payment(order_id: str, number: str | int, **card: Any) -> dict[str, Any]:
    return {"order_id": order_id, "method": "card", "card": {**_CARD, "number": number, **card}}


async def test_a_card_retry_replays_in_either_card_form(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    key = _key()
    first = await client.post(
        "/api/v1/payments", json=_card_payment(order_id, _CARD_A), headers=_with_key(auth, key)
    )
    assert first.status_code == 201, first.text
    # The same card as the flat form, with separators, an integer month and a 2-digit year.
    flat = {
        "order_id": order_id,
        "method": "card",
        "card_number": "4111 1111-1111 1111",
        "card_expiry": "07/99",
        "card_cvv": "123",
        "card_holder_name": "Asha Rao",
    }
    nested_variant = _card_payment(order_id, int(_CARD_A), expiry_month=7, expiry_year="99")
    for body in (flat, nested_variant):
        again = await client.post("/api/v1/payments", json=body, headers=_with_key(auth, key))
        assert again.status_code == 201, again.text
        assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    "change",
    [{"number": _CARD_B}, {"expiry_month": "08"}, {"expiry_year": "2098"}],
    ids=["other-card-same-last4", "other-month", "other-year"],
)
async def test_another_card_under_the_same_key_is_a_mismatch(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, change: dict[str, str]
) -> None:
    order_id = await new_order(client, auth)
    key = _key()
    first = await client.post(
        "/api/v1/payments", json=_card_payment(order_id, _CARD_A), headers=_with_key(auth, key)
    )
    assert first.status_code == 201, first.text
    other = _card_payment(order_id, _CARD_A)
    other["card"].update(change)
    r = await client.post("/api/v1/payments", json=other, headers=_with_key(auth, key))
    assert_error(r, 422, "IDEMPOTENCY_KEY_MISMATCH")
    n = await _count(conn, "SELECT count(*) AS n FROM payments WHERE order_id = %(o)s", o=order_id)
    assert n == 1


async def test_the_cvv_is_not_part_of_the_fingerprint(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The CVV is never hashed (a 3-digit secret next to a hash of it is recoverable); a retry
    that differs only in it is the same payment and replays."""
    order_id = await new_order(client, auth)
    key = _key()
    bodies = [_card_payment(order_id, _CARD_A, cvv=cvv) for cvv in ("123", "999")]
    first, again = [
        await client.post("/api/v1/payments", json=body, headers=_with_key(auth, key))
        for body in bodies
    ]
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_fingerprints_are_keyed_hex_and_ignore_fields_the_api_ignores() -> None:
    key, other_key = b"k" * 32, b"o" * 32
    body = orjson.dumps(_card_payment("order_x", _CARD_A))
    fp = idempotency.fingerprint(key, "POST", "/api/v1/payments", body)
    # The column's CHECK (^[0-9a-f]{64}$) still holds.
    assert len(fp) == 64 and set(fp) <= set("0123456789abcdef")
    assert idempotency.fingerprint(other_key, "POST", "/api/v1/payments", body) != fp
    # Flat card fields beside a nested card are ignored by the API, so by the fingerprint too.
    stray = {**_card_payment("order_x", _CARD_A), "card_number": _CARD_B, "card_cvv": "1"}
    assert idempotency.fingerprint(key, "POST", "/api/v1/payments", orjson.dumps(stray)) == fp
    assert idempotency.fingerprint(key, "POST", "/api/v1/orders", body) != fp


async def _blocked_by(conn: db.Conn, holder_pid: int, deadline: float) -> bool:
    """Wait until some backend waits on a lock `holder_pid` holds (or `deadline` passes)."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        row = await db.fetch_one(
            conn,
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE %(holder)s = ANY(pg_blocking_pids(pid))",
            {"holder": holder_pid},
        )
        if row is not None and row["n"] > 0:
            return True
        await asyncio.sleep(0.01)  # polling a condition, not standing in for one
    return False


async def test_concurrent_refunds_with_one_key_race_and_make_exactly_one_refund(
    auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant, config: settings.Settings
) -> None:
    # A lease far longer than the hold below: however slow the machine, the first request
    # keeps its key until the test lets it finish.
    async with app_client(config.model_copy(update={"idempotency_lease_seconds": 300})) as api:
        p = await successful_payment(api, auth, conn, config, amount=50000)
        url = f"/api/v1/payments/{p['id']}/refunds"
        headers = _with_key(auth, _key())
        body = {"amount": 1234, "reason": "race"}
        n = 12
        loop = asyncio.get_running_loop()
        async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as holder:
            # The test holds the payment's row lock: whichever request claims the key gets into
            # its transaction and waits there, key in hand, until the test lets go.
            async with holder.transaction():
                await holder.execute("SELECT 1 FROM payments WHERE id = %s FOR UPDATE", [p["id"]])
                requests = [
                    asyncio.create_task(api.post(url, json=body, headers=headers)) for _ in range(n)
                ]
                pending: set[asyncio.Task[httpx.Response]] = set(requests)
                async with asyncio.timeout(20):
                    while len(pending) > 1:
                        _, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
                # n - 1 answered while one request was still inside its transaction, waiting
                # on the test's lock: they raced it.
                assert await _blocked_by(conn, holder.info.backend_pid, loop.time() + 20)
                [first] = pending
                assert not first.done()
                busy = [t.result() for t in requests if t is not first]
            async with asyncio.timeout(20):
                created = await first
        replays = await asyncio.gather(
            *(api.post(url, json=body, headers=headers) for _ in range(n))
        )

    assert len(busy) == n - 1
    for r in busy:
        assert_error(r, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert r.headers["retry-after"] == "1"
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers
    for r in replays:
        assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
        assert r.content == created.content
    assert created.json()["amount"] == 1234
    refunds = await _count(
        conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", p=p["id"]
    )
    events = await _count(
        conn,
        "SELECT count(*) AS n FROM events WHERE merchant_id = %(m)s AND type = 'refund.created'",
        m=merchant.id,
    )
    jobs = await _count(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'process_refund'"
        " AND args->>'refund_id' IN (SELECT id FROM refunds WHERE payment_id = %(p)s)",
        p=p["id"],
    )
    assert (refunds, events, jobs) == (1, 1, 1)
    row = await db.fetch_one(
        conn, "SELECT amount_refunded FROM payments WHERE id = %(p)s", {"p": p["id"]}
    )
    assert row == {"amount_refunded": 1234}


async def test_a_key_is_kept_24_hours_in_postgres_and_in_redis(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: merchants.Merchant
) -> None:
    key = _key()
    r = await client.post("/api/v1/orders", json={"amount": 900}, headers=_with_key(auth, key))
    assert r.status_code == 201
    row = await db.fetch_one(
        conn,
        "SELECT expires_at - created_at AS kept FROM idempotency_keys"
        " WHERE merchant_id = %(m)s AND key = %(k)s",
        {"m": merchant.id, "k": key},
    )
    # Both ends are the claiming statement's now(): exactly the contract's 24 h.
    assert row is not None and row["kept"] == dt.timedelta(hours=24)
    redis = cache.connect(settings.load().redis_url)
    try:
        digest = hashlib.sha256(key.encode()).hexdigest()
        ttl_ms = await redis.pttl(f"{idempotency.CACHE_PREFIX}{merchant.id}:{digest}")
    finally:
        await redis.aclose()
    # The cached copy expires with the row (its TTL is what is left of the 24 h), never later.
    assert dt.timedelta(hours=23) < dt.timedelta(milliseconds=ttl_ms) <= dt.timedelta(hours=24)
