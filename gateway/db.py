"""The connection pool and small helpers around it."""

from __future__ import annotations

import dataclasses
import functools
import logging
import select
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.types.json
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from gateway import errors

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger("gateway.db")

Row = dict[str, Any]
Conn = psycopg.AsyncConnection[Row]
Pool = AsyncConnectionPool[Conn]
T = TypeVar("T", bound="DataclassInstance")


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # Session time zone UTC: timestamps leave the database already in the contract's zone.
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


async def check(conn: psycopg.AsyncConnection[Any]) -> None:
    """Checked out of the pool: refuse a connection the server has dropped.

    An idle connection of ours has nothing to read (we LISTEN on none of them), so a readable
    socket means the server spoke first: a FATAL from pg_terminate_backend, a shutdown, or
    EOF. Only then pay for the round trip of the real check (which raises, and the pool
    discards the connection and tries another). The common case costs no round trip, where
    pinging every checkout cost one per request."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


def open_pool(url: str, *, min_size: int = 2, max_size: int = 20, timeout: float = 5.0) -> Pool:
    """An autocommit pool: writes are explicit `conn.transaction()` blocks in the domain."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        configure=_configure,
        check=check,
        open=False,
        timeout=timeout,
        name="gateway",
    )


async def fetch_one(conn: Conn, query: str, params: Mapping[str, Any] | None = None) -> Row | None:
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def fetch_all(conn: Conn, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
    cur = await conn.execute(query, params)
    return await cur.fetchall()


@functools.cache
def _fields(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


def columns(cls: type[DataclassInstance], table: str = "") -> str:
    """A dataclass's fields as a SELECT / RETURNING list (`table.` before each when given), so
    the columns a query reads and the class it fills cannot drift apart."""
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + name for name in _fields(cls))


def load(cls: type[T], row: Row) -> T:
    """A dataclass from a row that holds (at least) its fields."""
    return cls(**{name: row[name] for name in _fields(cls)})


async def one(conn: Conn, cls: type[T], query: str, params: Mapping[str, Any]) -> T | None:
    row = await fetch_one(conn, query, params)
    return None if row is None else load(cls, row)


async def many(conn: Conn, cls: type[T], query: str, params: Mapping[str, Any]) -> list[T]:
    return [load(cls, row) for row in await fetch_all(conn, query, params)]


async def get(
    conn: Conn, cls: type[T], query: str, params: Mapping[str, Any], *, missing: str
) -> T:
    """The row the query finds, or NOT_FOUND_ERROR described by `missing`."""
    found = await one(conn, cls, query, params)
    if found is None:
        raise errors.NotFound(missing)
    return found


async def returning(conn: Conn, cls: type[T], query: str, params: Mapping[str, Any]) -> T:
    """An INSERT ... RETURNING, which always yields its row."""
    found = await one(conn, cls, query, params)
    if found is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return found


def split_database(url: str) -> tuple[str, str]:
    """(URL of the maintenance database `postgres`, name of the target database)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))
    return admin, name


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` if the server answers and it does not exist yet."""
    admin, name = split_database(url)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if await cur.fetchone():
            return False
        try:
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
        log.info("created database %s", name)
        return True


def jsonb(value: Any) -> psycopg.types.json.Jsonb:
    return psycopg.types.json.Jsonb(value)
