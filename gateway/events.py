"""emit(): the single place every event goes through. It writes the event row in the caller's
transaction; delivery to the merchant's webhook is queued in that same transaction."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway import db, ids, signing

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


async def emit(
    conn: db.Conn,
    merchant_id: uuid.UUID,
    event_type: str,
    resource_id: str,
    data: dict[str, Any],
) -> Event:
    """Record `event_type` for `resource_id`; call inside the transaction of the state change."""
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {event_type}")
    payload = signing.payload_bytes(event_type, int(time.time()), data)
    event = Event(ids.event(), merchant_id, event_type, resource_id, payload)
    await conn.execute(
        "INSERT INTO events (id, merchant_id, type, resource_id, payload)"
        " VALUES (%(id)s, %(m)s, %(type)s, %(rid)s, %(payload)s)",
        {
            "id": event.id,
            "m": merchant_id,
            "type": event_type,
            "rid": resource_id,
            "payload": payload.decode("utf-8"),
        },
    )
    return event
