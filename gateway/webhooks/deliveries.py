"""The merchant-facing delivery log: one row per event sent to a merchant's URL (status, attempts,
last response), listed, read one by one, and retried by hand. How an attempt is made lives in
attempts.py."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import db, errors, events, pagination, serialize
from gateway import queue as jobs_queue

STATUSES = ("pending", "success", "failed")
RESPONSE_BODY_CHARS = 2048


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    event: str
    status: str
    attempts: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_retry_at: dt.datetime | None
    response_code: int | None
    event_id: str
    resource_id: str

    def out(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": serialize.timestamp(self.created_at),
            "last_attempt_at": serialize.timestamp(self.last_attempt_at),
            "next_retry_at": serialize.timestamp(self.next_retry_at),
            "response_code": self.response_code,
            "event_id": self.event_id,
            "resource_id": self.resource_id,
        }


@dataclass(frozen=True)
class DeliveryDetail(Delivery):
    """A delivery with the payload sent and the last response body (the expanded row)."""

    payload: str
    response_body: str | None

    def out(self) -> dict[str, Any]:
        return {**super().out(), "payload": self.payload, "response_body": self.response_body}


@dataclass(frozen=True)
class Retried:
    id: uuid.UUID
    generation: int


COLUMNS = db.columns(Delivery)


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
) -> pagination.Page[Delivery]:
    pagination.choice("status", status, STATUSES)
    pagination.choice("event", event, events.ALL_TYPES)
    return await pagination.fetch(
        conn,
        Delivery,
        table="webhook_logs",
        merchant_id=merchant_id,
        filters={"status": status, "event": event, "resource_id": resource_id},
        limit=limit,
        offset=offset,
    )


async def for_payment(
    conn: db.Conn, merchant_id: uuid.UUID, payment_id: str, *, limit: int
) -> list[Delivery]:
    """The deliveries of a payment's events and of its refunds' events, newest first, in one
    query (the dashboard's payment page)."""
    return await db.many(
        conn,
        Delivery,
        f"SELECT {COLUMNS} FROM webhook_logs WHERE merchant_id = %(m)s AND (resource_id = %(p)s"
        " OR resource_id IN (SELECT id FROM refunds WHERE payment_id = %(p)s"
        " AND merchant_id = %(m)s)) ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"m": merchant_id, "p": payment_id, "limit": limit},
    )


async def get(conn: db.Conn, merchant_id: uuid.UUID, log_id: str) -> DeliveryDetail:
    return await db.get(
        conn,
        DeliveryDetail,
        f"SELECT {db.columns(DeliveryDetail)} FROM webhook_logs"
        " WHERE id = %(id)s AND merchant_id = %(m)s",
        {"id": _uuid(log_id), "m": merchant_id},
        missing="Webhook log not found",
    )


async def retry(conn: db.Conn, merchant_id: uuid.UUID, log_id: str) -> Retried:
    """Reset attempts and deliver the stored payload now. Bumping `generation` makes any job
    still scheduled for this log stale, so there is one delivery sequence at a time."""
    async with conn.transaction():
        retried = await db.get(
            conn,
            Retried,
            "UPDATE webhook_logs SET attempts = 0, status = 'pending', generation = generation + 1,"
            " next_retry_at = now(), updated_at = now()"
            " WHERE id = %(id)s AND merchant_id = %(m)s RETURNING id, generation",
            {"id": _uuid(log_id), "m": merchant_id},
            missing="Webhook log not found",
        )
        await jobs_queue.defer(
            conn,
            jobs_queue.TASK_DELIVER_WEBHOOK,
            log_id=str(retried.id),
            generation=retried.generation,
            attempt=0,
        )
    return retried
