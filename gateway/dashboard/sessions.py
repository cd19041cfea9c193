"""Server-side dashboard sessions. The cookie carries a random id; the table keeps its SHA-256,
the merchant, a per-session CSRF token and an absolute expiry. Logout deletes the row, so a
copied cookie stops working at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from gateway import db

LIFETIME = dt.timedelta(hours=12)
COOKIE = "gw_session"
_ID_BYTES = 32


@dataclass(frozen=True)
class Session:
    merchant_id: uuid.UUID
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Created:
    """A new session and the cookie value that names it (shown once, never stored)."""

    cookie_value: str
    session: Session


def _hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


async def create(conn: db.Conn, merchant_id: uuid.UUID) -> Created:
    cookie_value = secrets.token_urlsafe(_ID_BYTES)
    async with conn.transaction():
        # Housekeeping on the rare path: expired rows go when someone logs in.
        await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
        row = await db.fetch_one(
            conn,
            "INSERT INTO dashboard_sessions (id_hash, merchant_id, csrf_token, expires_at)"
            " VALUES (%(h)s, %(m)s, %(csrf)s, now() + %(life)s)"
            " RETURNING merchant_id, csrf_token, expires_at",
            {
                "h": _hash(cookie_value),
                "m": merchant_id,
                "csrf": secrets.token_urlsafe(32),
                "life": LIFETIME,
            },
        )
    if row is None:  # INSERT ... RETURNING always returns the row
        raise RuntimeError("insert returned no row")
    return Created(cookie_value, Session(**row))


async def get(conn: db.Conn, cookie_value: str | None) -> Session | None:
    """The live session this cookie names, else None (unknown, expired or malformed)."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    row = await db.fetch_one(
        conn,
        "SELECT merchant_id, csrf_token, expires_at FROM dashboard_sessions"
        " WHERE id_hash = %(h)s AND expires_at > now()",
        {"h": _hash(cookie_value)},
    )
    return Session(**row) if row else None


async def delete(conn: db.Conn, cookie_value: str | None) -> None:
    if cookie_value and len(cookie_value) <= 128:
        await conn.execute(
            "DELETE FROM dashboard_sessions WHERE id_hash = %(h)s", {"h": _hash(cookie_value)}
        )


def csrf_ok(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and secrets.compare_digest(
        submitted.encode(), session.csrf_token.encode()
    )
