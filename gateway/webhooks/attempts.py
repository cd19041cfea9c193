"""Attempting a delivery: claim (a short lease) → HTTP POST (no transaction, no database) →
record (one transaction: the attempt's result and, on failure, the job of the next attempt).

The next attempt is a new job scheduled in the same transaction that records this one, so the
retry schedule survives any worker crash; a recorded attempt makes a repeated job stale."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field

import httpx

from gateway import db, merchants, settings, vault
from gateway import queue as jobs_queue
from gateway.webhooks import deliveries, signing, urls

log = logging.getLogger("gateway.webhooks")

MAX_ATTEMPTS = 5
# Delay before attempt n (1-based): 0, 1 min, 5 min, 30 min, 2 h; test table 0, 5, 10, 15, 20 s.
SCHEDULE = (0, 60, 300, 1800, 7200)
TEST_SCHEDULE = (0, 5, 10, 15, 20)
# Longer than one attempt can take (5 s timeout + margin) and shorter than the stalled-worker
# timeout, so a job re-queued after a crash finds the lease expired.
LEASE_SECONDS = 10
TIMEOUT_SECONDS = 5.0
# Read at most this much of a response: enough for 2,048 characters of UTF-8.
READ_LIMIT = 4 * deliveries.RESPONSE_BODY_CHARS


def schedule(config: settings.Settings) -> tuple[int, ...]:
    return TEST_SCHEDULE if config.webhook_retry_intervals_test else SCHEDULE


@dataclass(frozen=True)
class Claim:
    log_id: uuid.UUID
    generation: int
    attempt: int
    event_id: str
    payload: bytes
    url: str | None
    # In clear for signing; out of repr so that a claim in a log line or traceback shows none.
    secret: str = field(repr=False)
    previous_secret: str | None = field(repr=False)
    lease: dt.datetime
    # The body's format (webhook_logs.format): a Razorpay-format delivery carries Razorpay's
    # headers too. The log's own, not the merchant's current one: a retry keeps its headers.
    format: str = "classic"


@dataclass(frozen=True)
class Busy:
    """Another delivery of this log holds the lease until `until`."""

    until: dt.datetime


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    body: str | None

    @property
    def gone(self) -> bool:
        return self.status_code == 410


async def claim(
    conn: db.Conn, log_id: uuid.UUID, generation: int, attempt: int, config: settings.Settings
) -> Claim | Busy | None:
    """Take the lease for attempt `attempt + 1`. None: the job is stale (a manual retry, or a
    duplicate run that already recorded this attempt). The webhook secrets are stored sealed
    and opened here, once per attempt, bound to the log's own merchant: a secret copied from
    another merchant's row raises vault.Unsealable instead of signing with it."""
    row = await db.fetch_one(
        conn,
        "UPDATE webhook_logs l SET delivering_until = now() + make_interval(secs => %(lease)s)"
        " FROM merchants m WHERE l.id = %(id)s AND m.id = l.merchant_id"
        " AND l.status = 'pending' AND l.generation = %(g)s AND l.attempts = %(a)s"
        " AND (l.delivering_until IS NULL OR l.delivering_until < now())"
        " RETURNING l.id, l.event_id, l.payload, l.delivering_until, l.merchant_id, l.format,"
        " m.webhook_url, m.webhook_secret_sealed, CASE WHEN"
        " m.previous_webhook_secret_expires_at > now() THEN m.previous_webhook_secret_sealed"
        " END AS previous_secret_sealed",
        {"id": log_id, "g": generation, "a": attempt, "lease": LEASE_SECONDS},
    )
    if row is not None:
        merchant_id = row["merchant_id"]
        previous = row["previous_secret_sealed"]
        return Claim(
            log_id=row["id"],
            generation=generation,
            attempt=attempt,
            event_id=row["event_id"],
            payload=row["payload"].encode("utf-8"),
            url=row["webhook_url"],
            secret=vault.open_(
                config,
                row["webhook_secret_sealed"],
                column=merchants.WEBHOOK_SECRET,
                row=merchant_id,
            ),
            previous_secret=None
            if previous is None
            else vault.open_(
                config, previous, column=merchants.PREVIOUS_WEBHOOK_SECRET, row=merchant_id
            ),
            lease=row["delivering_until"],
            format=row["format"],
        )
    current = await db.fetch_one(
        conn,
        "SELECT status, generation, attempts, delivering_until FROM webhook_logs WHERE id = %(id)s",
        {"id": log_id},
    )
    if (
        current is not None
        and current["status"] == "pending"
        and current["generation"] == generation
        and current["attempts"] == attempt
        and current["delivering_until"] is not None
    ):
        return Busy(current["delivering_until"])
    return None


def client() -> httpx.AsyncClient:
    """One per worker process: connections are reused across deliveries. Every socket it opens
    goes to an address `urls.pin` approved for that request (urls.Transport)."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(
        transport=urls.Transport(limits=limits),
        follow_redirects=False,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        # A receiver's answer is only a debugging aid: ask for it unencoded, and never decode
        # one that comes encoded anyway (a few hundred gzip bytes can inflate to gigabytes).
        headers={"User-Agent": "gateway-webhooks/1.0", "Accept-Encoding": "identity"},
        trust_env=False,
    )


# What an attempt records when no HTTP answer came: a category word and a fixed explanation,
# never the exception's text (it can carry internal names and addresses, and the merchant reads
# it through the API and the dashboard).
FAILURES = {
    "no_url": "no webhook URL configured",
    "invalid_url": "the webhook URL is not valid",
    "dns": "the host name does not resolve",
    "forbidden_address": "the host resolves to a private or reserved address",
    "timeout": f"timed out after {TIMEOUT_SECONDS:g} s",
    "connection_refused": "the receiver refused the connection",
    "connection_reset": "the receiver closed the connection without a complete answer",
    "tls": "the TLS handshake or certificate check failed",
    "connection_failed": "could not connect to the receiver",
    "protocol_error": "the answer was not valid HTTP",
    "transport_error": "the request failed before an answer arrived",
}


def failure(category: str) -> Outcome:
    return Outcome(False, None, f"{category}: {FAILURES[category]}")


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what it wraps: httpx wraps httpcore, which wraps the OSError or SSLError
    (anyio groups several), so the reason sits a few links down. Both links are followed:
    httpcore's pool re-raises `from None`, which keeps only __context__."""
    seen: list[BaseException] = []
    pending = [error]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def _category(error: httpx.HTTPError) -> str:
    for cause in _causes(error):
        if isinstance(cause, urls.NotPinned):
            return "forbidden_address"
        if isinstance(cause, ssl.SSLError):
            return "tls"
        if isinstance(cause, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "connection_reset"
        if isinstance(cause, socket.gaierror):
            return "dns"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connection_failed"
    if isinstance(error, httpx.RemoteProtocolError):
        return "protocol_error"
    if isinstance(error, httpx.ReadError | httpx.WriteError):
        return "connection_reset"
    return "transport_error"


async def _read_head(response: httpx.Response) -> str:
    """The first characters of the answer as stored text. Raw bytes, capped before anything is
    kept: the body is never decoded (decompressed), whatever Content-Encoding says."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_LIMIT:
            break
    text = b"".join(chunks)[:READ_LIMIT].decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL: one in the answer made recording the attempt fail, and
    # the delivery was never recorded nor retried.
    return text.replace("\x00", "\ufffd")[: deliveries.RESPONSE_BODY_CHARS]


async def send(http: httpx.AsyncClient, claim_: Claim, *, allow_private: bool) -> Outcome:
    """One signed POST: 5 s in total (lookup included), no redirects, a bounded read of the
    response. The URL is resolved once, here, and the connection goes to the address approved
    then: a URL that was public when saved may point somewhere private today."""
    if not claim_.url:
        return failure("no_url")
    headers = signing.headers(
        claim_.event_id,
        int(time.time()),
        claim_.payload,
        claim_.secret,
        claim_.previous_secret,
        razorpay=claim_.format == "razorpay",
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            target = await urls.pin(claim_.url, allow_private=allow_private)
            request = http.build_request(
                "POST",
                target.url,
                content=claim_.payload,
                headers={**headers, "Accept-Encoding": "identity"},
                extensions={urls.TARGET_EXTENSION: target},
            )
            response = await http.send(request, stream=True)
            try:
                body = await _read_head(response)
            finally:
                await response.aclose()
    except urls.Refused as refused:
        return failure(refused.category)
    except TimeoutError:
        return failure("timeout")
    except httpx.HTTPError as error:
        category = _category(error)
        # The exception's text stays with the operator; the merchant reads only the category.
        log.debug("webhook %s attempt failed: %s (%r)", claim_.log_id, category, error)
        return failure(category)
    ok = 200 <= response.status_code < 300
    return Outcome(ok, response.status_code, body)


# The attempt's result and, while the log stays pending, the job of the next attempt at
# next_retry_at: one statement, so one round trip and one transaction. No row back: a manual
# retry superseded this attempt (the guard on generation and attempts).
_RECORD = """
WITH r AS (
    UPDATE webhook_logs SET attempts = %(n)s, status = %(status)s, last_attempt_at = now(),
        response_code = %(code)s, response_body = %(body)s,
        next_retry_at = CASE WHEN %(delay)s::int IS NULL THEN NULL
            ELSE now() + make_interval(secs => %(delay)s) END,
        delivering_until = NULL, updated_at = now()
    WHERE id = %(id)s AND generation = %(g)s AND attempts = %(a)s
    RETURNING id, status, next_retry_at
), next_attempt AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)
    SELECT %(queue)s, %(task)s, jsonb_build_object('log_id', r.id::text, 'generation', %(g)s,
        'attempt', %(n)s), r.next_retry_at
    FROM r WHERE r.status = 'pending'
)
SELECT next_retry_at FROM r
"""


async def record(
    conn: db.Conn, claim_: Claim, outcome: Outcome, config: settings.Settings
) -> str | None:
    """Store the attempt and, if another is due, defer it, in one transaction. Returns the
    log's new status, or None when a manual retry superseded this attempt meanwhile."""
    attempts = claim_.attempt + 1
    if outcome.ok:
        status, delay = "success", None
    elif outcome.gone or attempts >= MAX_ATTEMPTS:
        status, delay = "failed", None
    else:
        status, delay = "pending", schedule(config)[attempts]
    body = outcome.body[: deliveries.RESPONSE_BODY_CHARS] if outcome.body else None
    row = await db.fetch_one(
        conn,
        _RECORD,
        {
            "id": claim_.log_id,
            "g": claim_.generation,
            "a": claim_.attempt,
            "n": attempts,
            "status": status,
            "code": outcome.status_code,
            "body": body,
            "delay": delay,
            "queue": jobs_queue.QUEUES[jobs_queue.TASK_DELIVER_WEBHOOK],
            "task": jobs_queue.TASK_DELIVER_WEBHOOK,
        },
    )
    if row is None:
        # A manual retry bumped the generation meanwhile: give up this attempt's lease only.
        await conn.execute(
            "UPDATE webhook_logs SET delivering_until = NULL"
            " WHERE id = %(id)s AND delivering_until = %(lease)s",
            {"id": claim_.log_id, "lease": claim_.lease},
        )
        return None
    return status


async def deliver(
    pool: db.Pool,
    http: httpx.AsyncClient,
    log_id: uuid.UUID,
    generation: int,
    attempt: int,
    config: settings.Settings,
) -> str | None:
    """One attempt of one log, end to end. Safe to run twice: a recorded attempt makes the job
    stale. Returns the log's new status (None when there was nothing to do)."""
    async with pool.connection() as conn:
        claimed = await claim(conn, log_id, generation, attempt, config)
        if isinstance(claimed, Busy):
            # Another run of this log is mid-flight (a manual retry met a live attempt):
            # come back when its lease ends rather than deliver twice at once.
            await jobs_queue.defer(
                conn,
                jobs_queue.TASK_DELIVER_WEBHOOK,
                schedule_at=claimed.until,
                log_id=str(log_id),
                generation=generation,
                attempt=attempt,
            )
            return None
    if claimed is None:
        return None
    outcome = await send(http, claimed, allow_private=config.private_webhook_urls_allowed)
    async with pool.connection() as conn:
        return await record(conn, claimed, outcome, config)
