"""Card data at rest and on the way out. Contract §4: only `card_network` and `card_last4` are
stored; "the full number and CVV never touch the database, a log line, a job argument or a
webhook"; the public checkout path shows no payer details at all.

One card (a random Luhn-valid number and a random 4-digit CVV, both first checked to be absent
from everything searched) pays several orders in every way the API takes a card: nested and
flat forms, the number plain, spaced and dashed, with and without an Idempotency-Key (and its
replay), on the private and the public endpoint. The merchant has a webhook URL, every payment
is processed (so every event exists) and every delivery log is attempted against a receiver
that echoes what it got (so what was sent is also what the log's response holds). Then the
number (plain, spaced, dashed), its middle digits and the CVV are searched for in a
`pg_dump --data-only` of the whole test database, every Redis key and value under the gateway's
prefixes, every job's arguments, the delivery logs, what the receiver got, every API answer
(the public ones included) and every log record. Each search first shows that it sees this
test's data (its ids), so finding nothing means something.

The attack on the stored Idempotency-Key fingerprints is tests/security/test_fingerprints.py."""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway import cache, db, idempotency, merchants, payments, ratelimit, settings
from gateway.webhooks import attempts
from tests import mock_receiver
from tests.helpers import new_order
from tests.security.test_fingerprints import FORMS, _random_visa
from tests.security.test_secrets_at_rest import _data_dump

# Every Redis key the gateway writes starts with one of these.
REDIS_PREFIXES = (idempotency.CACHE_PREFIX, ratelimit.PREFIX)


def _shapes(pan: str, cvv: str) -> dict[str, re.Pattern[str]]:
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    return {
        "card number": re.compile(re.escape(pan)),
        "card number, spaced": re.compile(re.escape(" ".join(groups))),
        "card number, dashed": re.compile(re.escape("-".join(groups))),
        # The digits no answer ever shows (after the BIN, before the last four).
        "card number's middle digits": re.compile(re.escape(pan[6:12])),
        # As a whole token: a longer number, a decimal fraction, a UUID's or a date's group of
        # four may hold any 4 digits by chance ("cvv":"4821" and a bare 4821 are tokens).
        "CVV": re.compile(rf"(?<![0-9A-Za-z.-]){cvv}(?![0-9A-Za-z.-])"),
    }


def _found(text: str, pan: str, cvv: str) -> list[str]:
    return [name for name, shape in _shapes(pan, cvv).items() if shape.search(text)]


async def _redis_text(config: settings.Settings) -> str:
    """Every key and value under the gateway's prefixes (the server is shared: other runs'
    keys are included, which only makes the search wider)."""
    client = cache.connect(config.redis_url)
    lines: list[str] = []
    try:
        for prefix in REDIS_PREFIXES:
            async for name in client.scan_iter(match=prefix + "*", count=1000):
                value = await client.get(name)
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                lines.append(f"{name!r} {value}")
    finally:
        await client.aclose()
    return "\n".join(lines)


async def _next_ids(conn: db.Conn) -> list[range]:
    """The integers the database's sequences (job and job-event ids) hand out next: this
    test's own jobs (a few dozen) will carry some of them, as whole tokens in the dump."""
    rows = await db.fetch_all(conn, "SELECT coalesce(last_value, 0) AS v FROM pg_sequences")
    return [range(row["v"], row["v"] + 1000) for row in rows]


def _draw(haystack: str, avoid: list[range]) -> tuple[str, str]:
    """A card number and a CVV that nothing searched holds yet, nor will by chance."""
    for _ in range(1000):
        pan, cvv = _random_visa(), str(1000 + secrets.randbelow(9000))
        if (
            cvv != pan[-4:]
            and not any(int(cvv) in ids for ids in avoid)
            and not _found(haystack, pan, cvv)
        ):
            return pan, cvv
    raise AssertionError("no card and CVV absent from everything searched")


def _headers(headers: httpx.Headers) -> str:
    """What a header could carry, without the ones that are only counts and clocks."""
    counts = {"content-length", "date", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}
    return "\n".join(f"{k}: {v}" for k, v in headers.items() if k not in counts)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[db.Pool]:
    p = db.open_pool(database, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


async def test_no_card_number_or_cvv_in_the_database_redis_jobs_webhooks_logs_or_answers(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    pool: db.Pool,
    merchant: merchants.NewMerchant,
    config: settings.Settings,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await merchants.set_webhook_url(conn, merchant.id, mock_receiver.URL)
    pan, cvv = _draw(_data_dump(database) + await _redis_text(config), await _next_ids(conn))
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    spaced, dashed = " ".join(groups), "-".join(groups)
    job_floor = await db.fetch_one(conn, "SELECT coalesce(max(id), 0) AS n FROM procrastinate_jobs")
    assert job_floor is not None
    answers: list[httpx.Response] = []
    payment_ids: list[str] = []
    keyed_ids: list[str] = []

    with caplog.at_level(logging.DEBUG):
        # (path, form, number as sent, Idempotency-Key)
        cases: list[tuple[str, str, str, str | None]] = [
            ("/api/v1/payments", "nested", pan, None),
            ("/api/v1/payments", "nested", spaced, "card-" + uuid.uuid4().hex),
            ("/api/v1/payments", "flat", dashed, None),
            ("/api/v1/payments", "flat", pan, "card-" + uuid.uuid4().hex),
            ("/api/v1/payments/public", "nested", spaced, None),
            ("/api/v1/payments/public", "flat", pan, None),
        ]
        for path, form, number, key in cases:
            body = FORMS[form](await new_order(client, auth), number, cvv, "12")
            headers = {**auth, "Idempotency-Key": key} if key else auth
            if path.endswith("/public"):
                headers = {}
            r = await client.post(path, json=body, headers=headers)
            assert r.status_code == 201, r.text
            assert r.json()["card_last4"] == pan[-4:]
            answers.append(r)
            payment_ids.append(r.json()["id"])
            if key:
                keyed_ids.append(r.json()["id"])
                replay = await client.post(path, json=body, headers=headers)
                assert replay.headers["idempotent-replayed"] == "true"
                answers.append(replay)

        for payment_id in payment_ids:
            processed = await payments.process(conn, payment_id, config)
            assert processed is not None and processed.status == "success"
            for url in (
                f"/api/v1/payments/{payment_id}/public",
                f"/api/v1/payments/{payment_id}/public?key={merchant.api_key}",
                f"/api/v1/payments/{payment_id}",
            ):
                got = await client.get(url, headers=auth)
                assert got.status_code == 200, got.text
                answers.append(got)

        logs = await db.fetch_all(
            conn,
            "SELECT id FROM webhook_logs WHERE merchant_id = %(m)s ORDER BY created_at",
            {"m": merchant.id},
        )
        # payment.created, payment.pending and payment.success of each payment.
        assert len(logs) == 3 * len(payment_ids)
        receiver = mock_receiver.Receiver(
            lambda request: httpx.Response(200, content=request.content)
        )
        async with mock_receiver.client(receiver) as http:
            for log in logs:
                assert await attempts.deliver(pool, http, log["id"], 0, 0, config) == "success"
    await mock_receiver.retire(conn, merchant.id)

    delivery_logs = await db.fetch_all(
        conn,
        "SELECT payload, response_body FROM webhook_logs WHERE merchant_id = %(m)s",
        {"m": merchant.id},
    )
    jobs = await db.fetch_all(
        conn, "SELECT args::text AS args FROM procrastinate_jobs WHERE id > %(n)s", job_floor
    )
    places: dict[str, str] = {
        "database dump": _data_dump(database),
        "Redis": await _redis_text(config),
        "job arguments": "\n".join(job["args"] for job in jobs),
        "delivery logs": "\n".join(f"{r['payload']}\n{r['response_body']}" for r in delivery_logs),
        "webhooks sent": "\n".join(
            f"{_headers(r.headers)}\n{r.content.decode()}" for r in receiver.requests
        ),
        "public answers": "\n".join(
            r.text for r in answers if r.request.url.path.endswith("/public")
        ),
        "API answers": "\n".join(f"{_headers(r.headers)}\n{r.text}" for r in answers),
        # The messages with their arguments, not the records' line numbers and timings.
        "log records": "\n".join(
            f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
        ),
    }

    # Each place holds this test's payments (the search looks where the data is) ...
    for place in ("database dump", "job arguments", "delivery logs", "webhooks sent"):
        assert all(pid in places[place] for pid in payment_ids), place
    assert all(pid in places["Redis"] for pid in keyed_ids)
    assert places["public answers"].count('"id":"pay_') == 2 + 2 * len(payment_ids)
    assert len(receiver.requests) == len(logs)
    # ... and none of it holds the card.
    leaks = {place: found for place, text in places.items() if (found := _found(text, pan, cvv))}
    assert leaks == {}
    # The public reads name no payer detail at all, not even the network or the last four.
    last4 = re.compile(rf"(?<![0-9A-Za-z.-]){pan[-4:]}(?![0-9A-Za-z.-])")
    for r in answers:
        if r.request.url.path.endswith("/public") and r.request.method == "GET":
            assert not {"card_last4", "card_network", "vpa"} & set(r.json())
            assert not last4.search(r.text)
