"""emit(): the single place every event goes through. In the caller's transaction it writes the
event row and, when the merchant has a webhook URL, a webhook log and its delivery job: the
transactional outbox. Either the state change, its events and their deliveries all commit, or
none of them does.

Each merchant receives one format (merchants.webhook_format). Classic events are recorded for
every merchant and delivered to classic-format ones; emit_razorpay records and delivers
Razorpay's events to Razorpay-format ones only. Both decide in SQL, from the merchant row as
the transaction sees it, so a format switch never splits one transaction's deliveries."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import db, errors, ids
from gateway import queue as jobs_queue
from gateway.razorpay import entities
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
# What a Razorpay-format merchant receives (webhook.test too, in Razorpay's envelope). refund.failed
# is Razorpay's name for a refund that failed; ours never fail, so it is listed but never sent.
RAZORPAY_TYPES = (
    "payment.authorized",
    "payment.captured",
    "payment.failed",
    "order.paid",
    "refund.created",
    "refund.processed",
    "refund.failed",
    "webhook.test",
)
# Any event a delivery log can name.
ALL_TYPES = tuple(dict.fromkeys(TYPES + RAZORPAY_TYPES))


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
    # a URL now (and wants the classic format). Both are inserted in the order given
    # (created_at = clock_timestamp(), taken row by row), so listings sorted by created_at keep
    # the emitted order.
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
        " WHERE m.webhook_url IS NOT NULL AND m.webhook_format = 'classic' ORDER BY o.n"
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


# The events of one transaction for a Razorpay-format merchant: the event rows, a log each and
# one delivery job, all in one statement and only while the merchant is Razorpay-hooked.
_EMIT_RAZORPAY = """
WITH hooked AS (
    SELECT id FROM merchants
    WHERE id = %(m)s AND webhook_url IS NOT NULL AND webhook_format = 'razorpay'
), e AS (
    INSERT INTO events (id, merchant_id, type, resource_id, payload, format)
    SELECT i.id, hooked.id, i.type, %(rid)s, i.payload, 'razorpay'
    FROM hooked, unnest(%(ids)s::text[], %(types)s::text[], %(payloads)s::text[])
        WITH ORDINALITY AS i(id, type, payload, n)
    ORDER BY i.n
    RETURNING id, merchant_id, type, resource_id, payload
), l AS (
    INSERT INTO webhook_logs (id, merchant_id, event_id, event, resource_id, payload, format)
    SELECT gen_random_uuid(), e.merchant_id, e.id, e.type, e.resource_id, e.payload, 'razorpay'
    FROM e JOIN unnest(%(ids)s::text[]) WITH ORDINALITY AS o(id, n) ON o.id = e.id
    ORDER BY o.n
    RETURNING id, event_id
), deliver AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, args)
    SELECT %(queue)s, %(task)s, jsonb_build_object('log_ids', array_agg(l.id::text ORDER BY o.n))
    FROM l JOIN unnest(%(ids)s::text[]) WITH ORDINALITY AS o(id, n) ON o.id = l.event_id
    HAVING count(*) > 0
)
SELECT id, event_id FROM l
"""


async def emit_razorpay(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    resource_id: str,
    items: list[tuple[str, dict[str, dict[str, Any]]]],
) -> list[Event]:
    """Razorpay-format events (in order) for one resource, each `(type, {"payment": entity,
    …})`, delivered in Razorpay's envelope; nothing at all unless the merchant is
    Razorpay-hooked. Call inside the state change's transaction."""
    created_at = int(time.time())
    account = entities.account_id(merchant_id)
    for event_type, _ in items:
        if event_type not in RAZORPAY_TYPES:
            raise ValueError(f"unknown Razorpay event type {event_type}")
    payloads = [
        signing.razorpay_payload_bytes(account, t, payload, created_at) for t, payload in items
    ]
    event_ids = [ids.event() for _ in items]
    rows = await db.fetch_all(
        conn,
        _EMIT_RAZORPAY,
        {
            "m": merchant_id,
            "rid": resource_id,
            "ids": event_ids,
            "types": [t for t, _ in items],
            "payloads": [p.decode("utf-8") for p in payloads],
            "queue": jobs_queue.QUEUES[jobs_queue.TASK_DELIVER_WEBHOOK],
            "task": jobs_queue.TASK_DELIVER_WEBHOOK,
        },
    )
    log_by_event = {row["event_id"]: row["id"] for row in rows}
    return [
        Event(event_id, merchant_id, event_type, resource_id, payload, log_by_event[event_id])
        for event_id, (event_type, _), payload in zip(event_ids, items, payloads, strict=True)
        if event_id in log_by_event
    ]


TEST_MESSAGE = "Test webhook from the payment gateway"


async def send_test(conn: db.Conn, merchant_id: uuid.UUID, webhook_url: str | None) -> Event:
    """A signed `webhook.test` event through the normal pipeline (event row, log, job), so a
    merchant sees exactly what a real delivery would do, in the merchant's format. 400 when no
    URL is configured."""
    if not webhook_url:
        raise errors.BadRequest("No webhook URL configured")
    async with conn.transaction():
        classic = await emit(
            conn, merchant_id, "webhook.test", str(merchant_id), {"message": TEST_MESSAGE}
        )
        if classic.webhook_log_id is not None:
            return classic
        # Not classic-hooked: a Razorpay-format merchant (Razorpay's envelope, no entities).
        razorpay = await emit_razorpay(conn, merchant_id, str(merchant_id), [("webhook.test", {})])
        return razorpay[0] if razorpay else classic
