"""List endpoints: `{data, total, limit, offset}`, newest first."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from gateway import db, errors

MAX_LIMIT = 100
MAX_OFFSET = 1_000_000


def check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise errors.BadRequest(f"offset must be between 0 and {MAX_OFFSET}")


def choice(name: str, value: str | None, allowed: Iterable[str]) -> None:
    """A filter value must be one of `allowed` (None = no filter)."""
    options = tuple(allowed)
    if value is not None and value not in options:
        raise errors.BadRequest(f"{name} must be one of: {', '.join(options)}")


def page(data: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": limit, "offset": offset}


async def fetch(
    conn: db.Conn,
    *,
    table: str,
    columns: str,
    merchant_id: uuid.UUID,
    filters: Mapping[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[db.Row], int]:
    """One merchant's rows of `table`, newest first, where every filter that is not None equals
    its column, and the total count. `table`, `columns` and the filters' keys are our own
    identifiers, never input; the values are parameters."""
    check(limit, offset)
    params: dict[str, Any] = {"m": merchant_id, "limit": limit, "o": offset}
    conditions = ["merchant_id = %(m)s"]
    for column, value in filters.items():
        if value is not None:
            params[f"f_{column}"] = value
            conditions.append(f"{column} = %(f_{column})s")
    where = " AND ".join(conditions)
    rows = await db.fetch_all(
        conn,
        f"SELECT {columns}, count(*) OVER () AS total FROM {table} WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(o)s",
        params,
    )
    if rows:
        return rows, int(rows[0]["total"])
    # Past the end (or nothing at all): the window count has no row to ride on.
    count = await db.fetch_one(conn, f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
    return rows, int(count["n"]) if count else 0
