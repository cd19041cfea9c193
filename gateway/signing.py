"""Webhook bytes and signatures: pure functions, no I/O."""

from __future__ import annotations

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
