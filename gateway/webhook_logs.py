"""Webhook delivery logs: listing, manual retry, and the claim/record steps of an attempt.

An attempt is: claim (a short lease, outside any long transaction) → HTTP POST (no transaction)
→ record (one transaction: the attempt's result and, on failure, the next attempt's job)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import db, errors, events, pagination, serialize, settings
from gateway import queue as jobs_queue

MAX_ATTEMPTS = 5
# Delay before attempt n (1-based): 0, 1 min, 5 min, 30 min, 2 h; test table 0, 5, 10, 15, 20 s.
SCHEDULE = (0, 60, 300, 1800, 7200)
TEST_SCHEDULE = (0, 5, 10, 15, 20)
# Longer than one attempt can take (5 s timeout + margin) and shorter than the stalled-worker
# timeout, so a job re-queued after a crash finds the lease expired.
LEASE_SECONDS = 10
RESPONSE_BODY_CHARS = 2048
STATUSES = ("pending", "success", "failed")

_LIST_COLUMNS = (
    "id, event, status, attempts, created_at, last_attempt_at, next_retry_at, response_code,"
    " event_id, resource_id"
)


def schedule(config: settings.Settings) -> tuple[int, ...]:
    return TEST_SCHEDULE if config.webhook_retry_intervals_test else SCHEDULE


def _out(row: db.Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "event": row["event"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": serialize.timestamp(row["created_at"]),
        "last_attempt_at": serialize.timestamp(row["last_attempt_at"]),
        "next_retry_at": serialize.timestamp(row["next_retry_at"]),
        "response_code": row["response_code"],
        "event_id": row["event_id"],
        "resource_id": row["resource_id"],
    }


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.NotFound("Webhook log not found") from None


async def list_(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    event: str | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    pagination.choice("status", status, STATUSES)
    pagination.choice("event", event, events.TYPES)
    rows, total = await pagination.fetch(
        conn,
        table="webhook_logs",
        columns=_LIST_COLUMNS,
        merchant_id=merchant_id,
        filters={"status": status, "event": event, "resource_id": resource_id},
        limit=limit,
        offset=offset,
    )
    return pagination.page([_out(r) for r in rows], total, limit, offset)


async def get(conn: db.Conn, merchant_id: uuid.UUID, log_id: str) -> dict[str, Any]:
    """One log with its payload and the last response body (the dashboard's expanded row)."""
    row = await db.fetch_one(
        conn,
        f"SELECT {_LIST_COLUMNS}, payload, response_body FROM webhook_logs"
        " WHERE id = %(id)s AND merchant_id = %(m)s",
        {"id": _uuid(log_id), "m": merchant_id},
    )
    if row is None:
        raise errors.NotFound("Webhook log not found")
    return {**_out(row), "payload": row["payload"], "response_body": row["response_body"]}


async def retry(conn: db.Conn, merchant_id: uuid.UUID, log_id: str) -> dict[str, Any]:
    """Reset attempts and deliver the stored payload now. Bumping `generation` makes any job
    still scheduled for this log stale, so there is one delivery sequence at a time."""
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            "UPDATE webhook_logs SET attempts = 0, status = 'pending', generation = generation + 1,"
            " next_retry_at = now(), updated_at = now()"
            " WHERE id = %(id)s AND merchant_id = %(m)s RETURNING id, generation",
            {"id": _uuid(log_id), "m": merchant_id},
        )
        if row is None:
            raise errors.NotFound("Webhook log not found")
        await jobs_queue.defer(
            conn,
            jobs_queue.TASK_DELIVER_WEBHOOK,
            log_id=str(row["id"]),
            generation=row["generation"],
            attempt=0,
        )
    return {"id": str(row["id"]), "status": "pending", "message": "Webhook retry scheduled"}


@dataclass(frozen=True)
class Claim:
    log_id: uuid.UUID
    generation: int
    attempt: int
    event_id: str
    payload: bytes
    url: str | None
    secret: str
    previous_secret: str | None
    lease: dt.datetime


@dataclass(frozen=True)
class Busy:
    """Another delivery of this log holds the lease until `until`."""

    until: dt.datetime


async def claim(
    conn: db.Conn, log_id: uuid.UUID, generation: int, attempt: int
) -> Claim | Busy | None:
    """Take the lease for attempt `attempt + 1`. None: the job is stale (a manual retry, or a
    duplicate run that already recorded this attempt)."""
    row = await db.fetch_one(
        conn,
        "UPDATE webhook_logs l SET delivering_until = now() + make_interval(secs => %(lease)s)"
        " FROM merchants m WHERE l.id = %(id)s AND m.id = l.merchant_id"
        " AND l.status = 'pending' AND l.generation = %(g)s AND l.attempts = %(a)s"
        " AND (l.delivering_until IS NULL OR l.delivering_until < now())"
        " RETURNING l.id, l.event_id, l.payload, l.delivering_until, m.webhook_url,"
        " m.webhook_secret, CASE WHEN m.previous_webhook_secret_expires_at > now()"
        " THEN m.previous_webhook_secret END AS previous_secret",
        {"id": log_id, "g": generation, "a": attempt, "lease": LEASE_SECONDS},
    )
    if row is not None:
        return Claim(
            log_id=row["id"],
            generation=generation,
            attempt=attempt,
            event_id=row["event_id"],
            payload=row["payload"].encode("utf-8"),
            url=row["webhook_url"],
            secret=row["webhook_secret"],
            previous_secret=row["previous_secret"],
            lease=row["delivering_until"],
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


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    body: str | None

    @property
    def gone(self) -> bool:
        return self.status_code == 410


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
    async with conn.transaction():
        row = await db.fetch_one(
            conn,
            "UPDATE webhook_logs SET attempts = %(n)s, status = %(status)s,"
            " last_attempt_at = now(), response_code = %(code)s, response_body = %(body)s,"
            " next_retry_at = CASE WHEN %(delay)s::int IS NULL THEN NULL"
            "   ELSE now() + make_interval(secs => %(delay)s) END,"
            " delivering_until = NULL, updated_at = now()"
            " WHERE id = %(id)s AND generation = %(g)s AND attempts = %(a)s"
            " RETURNING next_retry_at",
            {
                "id": claim_.log_id,
                "g": claim_.generation,
                "a": claim_.attempt,
                "n": attempts,
                "status": status,
                "code": outcome.status_code,
                "body": (outcome.body or "")[:RESPONSE_BODY_CHARS] if outcome.body else None,
                "delay": delay,
            },
        )
        if row is None:
            await conn.execute(
                "UPDATE webhook_logs SET delivering_until = NULL"
                " WHERE id = %(id)s AND delivering_until = %(lease)s",
                {"id": claim_.log_id, "lease": claim_.lease},
            )
            return None
        if status == "pending":
            await jobs_queue.defer(
                conn,
                jobs_queue.TASK_DELIVER_WEBHOOK,
                schedule_at=row["next_retry_at"],
                log_id=str(claim_.log_id),
                generation=claim_.generation,
                attempt=attempts,
            )
    return status
