"""JSON shapes shared by the API and webhook payloads."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, second precision: 2024-01-15T10:30:00Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
