"""Webhook bytes and signatures: pure functions, standard library only (the merchant-facing
verifier in gateway/webhooks/verify.py imports this module and nothing else of ours)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any


def payload_bytes(event: str, timestamp: int, data: dict[str, Any]) -> bytes:
    """The exact body: byte-identical to JavaScript's JSON.stringify of the parsed object
    (compact separators, non-ASCII kept as UTF-8, integers only)."""
    return json.dumps(
        {"event": event, "timestamp": timestamp, "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def razorpay_payload_bytes(
    account_id: str, event: str, payload: dict[str, dict[str, Any]], created_at: int
) -> bytes:
    """Razorpay's webhook body: `{"entity":"event","account_id","event","contains","payload":
    {"payment":{"entity":{…}}},"created_at"}`, `contains` naming the payload's entities in
    order. Serialized exactly like payload_bytes (the bytes signed are the bytes sent)."""
    return json.dumps(
        {
            "entity": "event",
            "account_id": account_id,
            "event": event,
            "contains": list(payload),
            "payload": {name: {"entity": entity} for name, entity in payload.items()},
            "created_at": created_at,
        },
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def legacy_signature(body: bytes, secret: str) -> str:
    """X-Webhook-Signature: lowercase hex HMAC-SHA256 of the body, the whole secret as key."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def standard_key(secret: str) -> bytes:
    """Standard Webhooks key: base64 after `whsec_` when that decodes to 24-64 bytes (every
    newly generated secret), else the whole secret as UTF-8 (the seeded whsec_test_abc123)."""
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if 24 <= len(key) <= 64:
            return key
    return secret.encode("utf-8")


def standard_signature(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    msg_id: str,
    timestamp: int,
    body: bytes,
    secret: str,
    previous_secret: str | None = None,
    *,
    razorpay: bool = False,
) -> dict[str, str]:
    """All signature headers for one attempt. During a rotation overlap webhook-signature
    carries the new and the old signature (new first); X-Webhook-Signature only the new.

    A Razorpay-format delivery adds what Razorpay's receivers check: X-Razorpay-Signature (the
    same hex HMAC of the raw body as X-Webhook-Signature, current secret only) and
    X-Razorpay-Event-Id (the event id, stable across retries, for deduplication)."""
    signatures = [standard_signature(msg_id, timestamp, body, secret)]
    if previous_secret:
        signatures.append(standard_signature(msg_id, timestamp, body, previous_secret))
    legacy = legacy_signature(body, secret)
    found = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": legacy,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
    if razorpay:
        found["X-Razorpay-Signature"] = legacy
        found["X-Razorpay-Event-Id"] = msg_id
    return found
