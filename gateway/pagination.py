"""List endpoints: one merchant's rows, newest first, as a `Page` ({data, total, limit, offset})."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from gateway import db, errors

MAX_LIMIT = 100
MAX_OFFSET = 1_000_000


class Listable(Protocol):
    def out(self) -> dict[str, Any]: ...


ItemT = TypeVar("ItemT", bound=Listable)


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    total: int
    limit: int
    offset: int

    def out(self) -> dict[str, Any]:
        return {
            "data": [item.out() for item in self.items],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
        }


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


async def fetch(
    conn: db.Conn,
    cls: type[ItemT],
    *,
    table: str,
    merchant_id: uuid.UUID,
    filters: Mapping[str, Any],
    limit: int,
    offset: int,
) -> Page[ItemT]:
    """One merchant's rows of `table` as `cls` items, newest first, where every filter that is
    not None equals its column, with the total count. `table`, `cls`'s fields and the filters'
    keys are our own identifiers, never input; the values are parameters."""
    check(limit, offset)
    row_class: Any = cast(Any, cls)  # a frozen dataclass with an out()
    params: dict[str, Any] = {"m": merchant_id, "limit": limit, "o": offset}
    conditions = ["merchant_id = %(m)s"]
    for column, value in filters.items():
        if value is not None:
            params[f"f_{column}"] = value
            conditions.append(f"{column} = %(f_{column})s")
    where = " AND ".join(conditions)
    rows = await db.fetch_all(
        conn,
        f"SELECT {db.columns(row_class)}, count(*) OVER () AS total FROM {table} WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(o)s",
        params,
    )
    if rows:
        total = int(rows[0]["total"])
    else:
        # Past the end (or nothing at all): the window count has no row to ride on.
        count = await db.fetch_one(conn, f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
        total = int(count["n"]) if count else 0
    return Page([db.load(row_class, row) for row in rows], total, limit, offset)
