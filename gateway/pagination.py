"""List endpoints: one merchant's rows, newest first, as a `Page`
({data, total, limit, offset, has_more}).

Two ways through a list: `limit`/`offset` (the classic shape), and cursors, `starting_after` /
`ending_before` an item's id (the page after / before that item), which cost the same on page
ten thousand as on page one. A page is one index range scan either way; a deep offset walks the
index (only the index: the rows are read for the page alone).

`total` is exact and costs no count of the table: the counts kept by db/migrations/0012 for the
list's status and its one other counted column, or, for a filter they do not cover (a payment's
refunds, a resource's deliveries), a count over that filter's small index range."""

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
class Window:
    """Which part of a list: `limit` items after skipping `offset`, or the items just after
    (`starting_after`) or just before (`ending_before`) the item with that id."""

    limit: int = 10
    offset: int = 0
    starting_after: str | None = None
    ending_before: str | None = None

    def check(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise errors.BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise errors.BadRequest(f"offset must be between 0 and {MAX_OFFSET}")
        if self.starting_after is not None and self.ending_before is not None:
            raise errors.BadRequest("Use starting_after or ending_before, not both")
        if self.cursor is not None and self.offset:
            raise errors.BadRequest("offset cannot be combined with a cursor")

    @property
    def cursor(self) -> str | None:
        return self.starting_after if self.starting_after is not None else self.ending_before


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    total: int
    limit: int
    offset: int
    has_more: bool

    def out(self) -> dict[str, Any]:
        return {
            "data": [item.out() for item in self.items],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "has_more": self.has_more,
        }


@dataclass(frozen=True)
class Listing:
    """How a table is listed: its name, the name its counts are kept under, and the column
    counted beside the status (None: only the status)."""

    table: str
    counted_kind: str | None = None

    @property
    def counts(self) -> str:
        return self.table


def check(limit: int, offset: int) -> None:
    Window(limit, offset).check()


def choice(name: str, value: str | None, allowed: Iterable[str]) -> None:
    """A filter value must be one of `allowed` (None = no filter)."""
    options = tuple(allowed)
    if value is not None and value not in options:
        raise errors.BadRequest(f"{name} must be one of: {', '.join(options)}")


async def fetch(
    conn: db.Conn,
    cls: type[ItemT],
    listing: Listing,
    *,
    merchant_id: uuid.UUID,
    filters: Mapping[str, Any],
    window: Window,
) -> Page[ItemT]:
    """One merchant's rows of `listing` as `cls` items, newest first, where every filter that
    is not None equals its column. `listing`, `cls`'s fields and the filters' keys are our own
    identifiers, never input; the values are parameters."""
    window.check()
    row_class: Any = cast(Any, cls)  # a frozen dataclass with an out()
    table = listing.table
    params: dict[str, Any] = {"m": merchant_id, "limit": window.limit + 1, "o": window.offset}
    conditions = ["merchant_id = %(m)s"]
    for column, value in filters.items():
        if value is not None:
            params[f"f_{column}"] = value
            conditions.append(f"{column} = %(f_{column})s")
    where = " AND ".join(conditions)
    newest_first = "ORDER BY created_at DESC, id DESC"
    if window.cursor is not None:
        params["cursor"] = window.cursor
        # The cursor item must be one of this list's (the same merchant, the same filters).
        position = f"(SELECT created_at, id FROM {table} WHERE {where} AND id = %(cursor)s)"
        if window.starting_after is not None:
            rows_sql = (
                f"SELECT {db.columns(row_class)} FROM {table} WHERE {where}"
                f" AND (created_at, id) < {position} {newest_first} LIMIT %(limit)s"
            )
        else:  # ending_before: the items just newer than the cursor, read upward
            rows_sql = (
                f"SELECT * FROM (SELECT {db.columns(row_class)} FROM {table} WHERE {where}"
                f" AND (created_at, id) > {position} ORDER BY created_at, id"
                f" LIMIT %(limit)s) AS newer {newest_first}"
            )
        await _check_cursor(conn, table, where, params)
    elif window.offset:
        # Walk the index to the page's first entry, then read only the page's rows.
        first = (
            f"(SELECT created_at, id FROM {table} WHERE {where} {newest_first}"
            " OFFSET %(o)s LIMIT 1)"
        )
        rows_sql = (
            f"SELECT {db.columns(row_class)} FROM {table} WHERE {where}"
            f" AND (created_at, id) <= {first} {newest_first} LIMIT %(limit)s"
        )
    else:
        rows_sql = (
            f"SELECT {db.columns(row_class)} FROM {table} WHERE {where} {newest_first}"
            " LIMIT %(limit)s"
        )
    rows = await db.fetch_all(conn, rows_sql, params)
    has_more = len(rows) > window.limit
    if has_more:
        # The extra row only says there is more; for ending_before it is the oldest one.
        rows = rows[1:] if window.ending_before is not None else rows[: window.limit]
    items = [db.load(row_class, row) for row in rows]
    total = await _total(conn, listing, merchant_id, filters)
    return Page(items, total, window.limit, window.offset, has_more)


async def _check_cursor(conn: db.Conn, table: str, where: str, params: Mapping[str, Any]) -> None:
    found = await db.fetch_one(
        conn, f"SELECT 1 AS found FROM {table} WHERE {where} AND id = %(cursor)s", params
    )
    if found is None:
        raise errors.BadRequest("The cursor does not name an item of this list")


async def _total(
    conn: db.Conn, listing: Listing, merchant_id: uuid.UUID, filters: Mapping[str, Any]
) -> int:
    given = {column: value for column, value in filters.items() if value is not None}
    counted = {"status", *((listing.counted_kind,) if listing.counted_kind else ())}
    if set(given) <= counted:
        row = await db.fetch_one(
            conn,
            "SELECT coalesce(sum(n), 0)::bigint AS n FROM row_counts"
            " WHERE merchant_id = %(m)s AND list = %(list)s"
            " AND (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(kind)s::text IS NULL OR kind = %(kind)s)",
            {
                "m": merchant_id,
                "list": listing.counts,
                "status": given.get("status"),
                "kind": given.get(listing.counted_kind) if listing.counted_kind else None,
            },
        )
    else:
        # A filter the counts do not cover narrows to one payment's or one resource's rows,
        # found through its own index: counting them is as cheap as reading them.
        params = {"m": merchant_id, **{f"f_{c}": v for c, v in given.items()}}
        where = " AND ".join(["merchant_id = %(m)s", *(f"{c} = %(f_{c})s" for c in given)])
        row = await db.fetch_one(
            conn, f"SELECT count(*) AS n FROM {listing.table} WHERE {where}", params
        )
    return int(row["n"]) if row else 0
