"""List endpoints: `{data, total, limit, offset}`, newest first."""

from __future__ import annotations

from typing import Any

from gateway import errors

MAX_LIMIT = 100
MAX_OFFSET = 1_000_000


def check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise errors.BadRequest(f"offset must be between 0 and {MAX_OFFSET}")


def page(data: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": limit, "offset": offset}
