"""emit(): the single place every event goes through. In the caller's transaction it writes the
event row and, when the merchant has a webhook URL, a webhook log and its delivery job: the
transactional outbox. Either the state change, its events and their deliveries all commit, or
none of them does."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import db, errors, ids
from gateway import queue as jobs_queue
from gateway.webhooks import signing

TYPES = (
    "payment.created",
    "payment.pending",
    "payment.success",
    "payment.failed",
    "refund.created",
    "refund.processed",
    "webhook.test",
)


@dataclass(frozen=True)
class Event:
    id: str
    merchant_id: uuid.UUID
    type: str
    resource_id: str
    payload: bytes
    webhook_log_id: uuid.UUID | None


async def emit_many(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    resource_id: str,
    items: list[tuple[str, dict[str, Any]]],
) -> list[Event]:
    """Record events (in order) for one resource; call inside the state change's transaction."""
    now = int(time.time())
    for event_type, _ in items:
        if event_type not in TYPES:
            raise ValueError(f"unknown event type {event_type}")
    payloads = [signing.payload_bytes(t, now, data) for t, data in items]
    event_ids = [ids.event() for _ in items]
    # One round trip for all of them: the events, plus a log row each only if the merchant has
    # a URL now. Both are inserted in the order given (created_at = clock_timestamp(), taken
    # row by row), so listings sorted by created_at keep the emitted order.
    rows = await db.fetch_all(
        conn,
        "WITH e AS (INSERT INTO events (id, merchant_id, type, resource_id, payload)"
        " SELECT i.id, %(m)s, i.type, %(rid)s, i.payload"
        " FROM unnest(%(ids)s::text[], %(types)s::text[], %(payloads)s::text[])"
        " WITH ORDINALITY AS i(id, type, payload, n) ORDER BY i.n"
        " RETURNING id, merchant_id, type, resource_id, payload)"
        " INSERT INTO webhook_logs (id, merchant_id, event_id, event, resource_id, payload)"
        " SELECT gen_random_uuid(), e.merchant_id, e.id, e.type, e.resource_id, e.payload"
        " FROM e JOIN merchants m ON m.id = e.merchant_id"
        " JOIN unnest(%(ids)s::text[]) WITH ORDINALITY AS o(id, n) ON o.id = e.id"
        " WHERE m.webhook_url IS NOT NULL ORDER BY o.n"
        " RETURNING id, event_id",
        {
            "m": merchant_id,
            "rid": resource_id,
            "ids": event_ids,
            "types": [t for t, _ in items],
            "payloads": [p.decode("utf-8") for p in payloads],
        },
    )
    log_by_event = {row["event_id"]: row["id"] for row in rows}
    emitted = [
        Event(event_id, merchant_id, event_type, resource_id, payload, log_by_event.get(event_id))
        for event_id, (event_type, _), payload in zip(event_ids, items, payloads, strict=True)
    ]
    # One job attempts this transaction's deliveries one after another, in emission order
    # (payment.created before payment.pending). A later transaction's events get a later job,
    # and workers take due jobs in id order. (A procrastinate lock per resource gave the same
    # order but stalled badly once several worker processes shared the queue.)
    log_ids = [str(e.webhook_log_id) for e in emitted if e.webhook_log_id]
    if log_ids:
        await jobs_queue.defer(conn, jobs_queue.TASK_DELIVER_WEBHOOK, log_ids=log_ids)
    return emitted


async def emit(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    event_type: str,
    resource_id: str,
    data: dict[str, Any],
) -> Event:
    """Record one event for `resource_id`; call inside the transaction of the state change."""
    return (await emit_many(conn, merchant_id, resource_id, [(event_type, data)]))[0]


TEST_MESSAGE = "Test webhook from the payment gateway"


async def send_test(conn: db.Conn, merchant_id: uuid.UUID, webhook_url: str | None) -> Event:
    """A signed `webhook.test` event through the normal pipeline (event row, log, job), so a
    merchant sees exactly what a real delivery would do. 400 when no URL is configured."""
    if not webhook_url:
        raise errors.BadRequest("No webhook URL configured")
    async with conn.transaction():
        return await emit(
            conn, merchant_id, "webhook.test", str(merchant_id), {"message": TEST_MESSAGE}
        )
