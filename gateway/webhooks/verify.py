"""Verify a webhook from this gateway, in your own server.

    from gateway.webhooks import verify
    try:
        event = verify.verify(raw_body, request_headers, "whsec_...")
    except verify.WebhookVerificationError as error:
        return 400, str(error)   # error.reason says which check failed

Pass the raw body bytes exactly as received: parsing and re-serialising the JSON changes the
bytes and the signature no longer matches. The Standard Webhooks headers (webhook-id,
webhook-timestamp, webhook-signature) are required and the timestamp must be within 5 minutes,
so a captured webhook cannot be replayed later. The legacy X-Webhook-Signature (hex HMAC-SHA256
of the body) signs no timestamp, so it replays forever: it is accepted only with
`allow_legacy=True`, for a sender that does not send the Standard Webhooks headers.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from gateway.webhooks import signing

DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """`reason` is one of: missing_signature, bad_timestamp, stale_timestamp,
    signature_mismatch, body_not_json."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _looks_reserialised(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    compact = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    return compact != body


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
    allow_legacy: bool = False,
) -> dict[str, Any]:
    """Return the parsed event if a signature made with `secret` matches, else raise
    WebhookVerificationError saying why. `allow_legacy=True` also accepts the timestamp-less
    X-Webhook-Signature: only for a sender without the Standard Webhooks headers, since a
    captured legacy-signed webhook verifies forever."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    h = _lower(headers)
    standard = h.get("webhook-signature")
    legacy = h.get("x-webhook-signature") if allow_legacy else None
    if not standard and not legacy:
        if h.get("x-webhook-signature"):
            raise WebhookVerificationError(
                "missing_signature",
                "no webhook-signature header: X-Webhook-Signature alone signs no timestamp and"
                " can be replayed, so it is accepted only with allow_legacy=True",
            )
        raise WebhookVerificationError("missing_signature", "no webhook-signature header")
    matched = False
    if standard:
        msg_id, ts_text = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        # ASCII digits only: int() would also read other scripts' digits.
        if not (ts_text.isascii() and ts_text.isdigit()):
            raise WebhookVerificationError("bad_timestamp", "webhook-timestamp missing or invalid")
        timestamp = int(ts_text)
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            raise WebhookVerificationError(
                "stale_timestamp",
                f"webhook-timestamp is {int(current - timestamp)} s away from now"
                f" (tolerance {tolerance} s): a replay, or a clock that is off",
            )
        expected = signing.standard_signature(msg_id, timestamp, raw, secret)
        matched = any(hmac.compare_digest(expected, candidate) for candidate in standard.split(" "))
    if not matched and legacy:
        matched = hmac.compare_digest(signing.legacy_signature(raw, secret), legacy.strip())
    if not matched:
        if _looks_reserialised(raw):
            raise WebhookVerificationError(
                "signature_mismatch",
                "signature does not match and the body is not in the compact form we send:"
                " it was probably parsed and re-serialised; verify the raw request bytes",
            )
        raise WebhookVerificationError(
            "signature_mismatch",
            "signature does not match: wrong secret (after a rotation, use the new one), or"
            " the body was changed",
        )
    try:
        event: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("body_not_json", "body is not JSON") from None
    return event
