"""One delivery attempt against the merchant's receiver, an `httpx.MockTransport` behind the
worker's own webhook client (tests/mock_receiver.py): what is sent and signed, the secret
rotation overlap and its end, redirects not followed, a bounded read of the answer, and the 5 s
deadline. The 410 stop, the fifth failure and the schedule are in tests/test_retry_schedule.py;
attacks on egress (rebinding, special addresses, hostile answers over real sockets) in
tests/security/test_webhook_egress.py; one real worker and receiver end to end in
tests/test_webhooks_e2e.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import standardwebhooks

from gateway import db, events, merchants, settings
from gateway.webhooks import attempts, signing, verify
from tests import mock_receiver

# Only a failing test ever waits this long: the code under test gave up on its deadline.
GUARD_SECONDS = 15


@pytest.fixture
async def pool(database: str) -> AsyncIterator[db.Pool]:
    p = db.open_pool(database, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


@pytest.fixture
async def hooked(
    conn: db.Conn, merchant: merchants.NewMerchant
) -> AsyncIterator[merchants.NewMerchant]:
    await merchants.set_webhook_url(conn, merchant.id, mock_receiver.URL)
    yield merchant
    await mock_receiver.retire(conn, merchant.id)


async def _event(conn: db.Conn, merchant: merchants.NewMerchant) -> events.Event:
    event = await events.send_test(conn, merchant.id, mock_receiver.URL)
    assert event.webhook_log_id is not None
    return event


async def _log(conn: db.Conn, log_id: uuid.UUID | None) -> dict[str, Any]:
    row = await db.fetch_one(
        conn,
        "SELECT status, attempts, response_code, response_body, next_retry_at"
        " FROM webhook_logs WHERE id = %(id)s",
        {"id": log_id},
    )
    assert row is not None
    return row


def _claim(url: str = mock_receiver.URL) -> attempts.Claim:
    """An attempt as `attempts.claim` hands it over, for tests of `send` alone."""
    return attempts.Claim(
        log_id=uuid.uuid4(),
        generation=0,
        attempt=0,
        event_id="evt_" + uuid.uuid4().hex[:16],
        payload=signing.payload_bytes("webhook.test", int(time.time()), {"message": "hi"}),
        url=url,
        secret=merchants.new_webhook_secret(),
        previous_secret=None,
        lease=dt.datetime.now(dt.UTC),
    )


async def _send(receiver: mock_receiver.Receiver, claim: attempts.Claim) -> attempts.Outcome:
    async with asyncio.timeout(GUARD_SECONDS), mock_receiver.client(receiver) as http:
        return await attempts.send(http, claim, allow_private=True)


# What is sent ------------------------------------------------------------------------------------


async def test_an_attempt_posts_the_stored_bytes_signed_with_the_merchants_secret(
    conn: db.Conn, pool: db.Pool, hooked: merchants.NewMerchant, config: settings.Settings
) -> None:
    event = await _event(conn, hooked)
    assert event.webhook_log_id is not None
    receiver = mock_receiver.Receiver()
    async with mock_receiver.client(receiver) as http:
        status = await attempts.deliver(pool, http, event.webhook_log_id, 0, 0, config)
    assert status == "success"
    [request] = receiver.requests
    assert (request.method, str(request.url)) == ("POST", mock_receiver.URL)
    assert request.content == event.payload
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["accept-encoding"] == "identity"
    assert headers["webhook-id"] == event.id
    assert headers["x-webhook-signature"] == signing.legacy_signature(
        event.payload, hooked.webhook_secret
    )
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verify.verify(request.content, headers, hooked.webhook_secret)["event"] == "webhook.test"
    standardwebhooks.Webhook(hooked.webhook_secret).verify(request.content.decode(), dict(headers))
    log = await _log(conn, event.webhook_log_id)
    assert (log["status"], log["attempts"], log["response_code"], log["response_body"]) == (
        "success",
        1,
        200,
        "ok",
    )


# Secret rotation ---------------------------------------------------------------------------------


def _signatures(request: httpx.Request) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def _verifies(request: httpx.Request, secret: str) -> bool:
    try:
        verify.verify(request.content, request.headers, secret)
    except verify.WebhookVerificationError:
        return False
    return True


async def test_the_old_secret_signs_alongside_until_the_overlap_ends_and_not_after(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    pool: db.Pool,
    hooked: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    old = hooked.webhook_secret
    r = await client.post("/api/v1/webhooks/config/rotate-secret", headers=auth)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old
    receiver = mock_receiver.Receiver()

    async def attempt() -> httpx.Request:
        event = await _event(conn, hooked)
        async with mock_receiver.client(receiver) as http:
            assert event.webhook_log_id is not None
            await attempts.deliver(pool, http, event.webhook_log_id, 0, 0, config)
        sent = receiver.requests[-1]
        assert sent.headers["webhook-id"] == event.id
        # X-Webhook-Signature: always exactly one value, made with the current secret.
        assert sent.headers["x-webhook-signature"] == signing.legacy_signature(sent.content, new)
        return sent

    async def expire_in(interval: str) -> None:
        await conn.execute(
            "UPDATE merchants SET previous_webhook_secret_expires_at = now() + %(i)s::interval"
            " WHERE id = %(m)s",
            {"i": interval, "m": hooked.id},
        )

    # Just after the rotation (24 h left) and a minute before the overlap ends: both sign,
    # the new one first.
    for left in (None, "1 minute"):
        if left:
            await expire_in(left)
        during = await attempt()
        assert len(_signatures(during)) == 2
        assert _signatures(during)[0] == signing.standard_signature(
            during.headers["webhook-id"],
            int(during.headers["webhook-timestamp"]),
            during.content,
            new,
        )
        assert _verifies(during, new) and _verifies(during, old)
        standardwebhooks.Webhook(old).verify(during.content.decode(), dict(during.headers))

    # The overlap is over: only the new secret signs; a receiver still on the old one refuses.
    await expire_in("-1 second")
    after = await attempt()
    assert len(_signatures(after)) == 1
    assert _verifies(after, new) and not _verifies(after, old)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(after.content.decode(), dict(after.headers))


# Redirects, the answer's size, the deadline ------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_a_redirect_is_recorded_as_a_failure_and_not_followed(code: int) -> None:
    # Same origin as the webhook URL: even a redirect the pinned transport would let through
    # is not followed.
    receiver = mock_receiver.Receiver(
        lambda request: httpx.Response(code, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    )
    outcome = await _send(receiver, _claim())
    assert [str(r.url) for r in receiver.requests] == [mock_receiver.URL]
    assert (outcome.ok, outcome.status_code) == (False, code)


class _Stream(httpx.AsyncByteStream):
    """A 10 MiB answer, handed over 64 KiB at a time; counts what the reader pulled."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < 10 * 1024 * 1024:
            self.pulled += len(self.chunk)
            yield self.chunk

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("char", "code"), [("x", 200), ("é", 200), ("€", 500)])
async def test_only_the_head_of_a_huge_answer_is_read_and_2048_characters_kept(
    char: str, code: int
) -> None:
    stream = _Stream((char * 65536).encode()[:65536])
    receiver = mock_receiver.Receiver(lambda request: httpx.Response(code, stream=stream))
    outcome = await _send(receiver, _claim())
    assert outcome.status_code == code and outcome.ok == (code == 200)
    assert outcome.body == char * 2048
    # The read stopped at the first chunk past the cap (8 KiB): 64 KiB of 10 MiB were pulled.
    assert stream.pulled == 65536
    assert stream.closed


async def test_a_receiver_that_never_answers_is_a_timeout_recorded_and_retried(
    monkeypatch: pytest.MonkeyPatch,
    conn: db.Conn,
    pool: db.Pool,
    hooked: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    # The contract's 5 s, in the module constant `send` reads at each attempt and in the
    # client the worker uses; the wait itself is shortened through that constant.
    assert attempts.TIMEOUT_SECONDS == 5.0
    async with attempts.client() as production_client:
        assert production_client.timeout == httpx.Timeout(5.0)
        assert production_client.follow_redirects is False
    monkeypatch.setattr(attempts, "TIMEOUT_SECONDS", 0.2)
    cancelled: list[bool] = []

    async def never(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        raise AssertionError("unreachable")

    event = await _event(conn, hooked)
    assert event.webhook_log_id is not None
    async with (
        asyncio.timeout(GUARD_SECONDS),
        mock_receiver.client(mock_receiver.Receiver(never)) as http,
    ):
        status = await attempts.deliver(pool, http, event.webhook_log_id, 0, 0, config)
    assert cancelled == [True], "the attempt was abandoned at its deadline"
    assert status == "pending"
    log = await _log(conn, event.webhook_log_id)
    assert (log["attempts"], log["response_code"]) == (1, None)
    assert log["response_body"] == "timeout: timed out after 5 s"
    assert log["next_retry_at"] is not None


async def test_the_deadline_covers_reading_the_answer_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers at once, then a body that never ends: still a timeout, never a success."""
    monkeypatch.setattr(attempts, "TIMEOUT_SECONDS", 0.2)

    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"o"
            await asyncio.Event().wait()

    receiver = mock_receiver.Receiver(lambda request: httpx.Response(200, stream=Trickle()))
    outcome = await _send(receiver, _claim())
    assert outcome == attempts.failure("timeout")
