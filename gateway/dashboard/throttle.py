"""Login throttling: bounds password guessing without letting an attacker lock the owner out.

Three kinds of bucket, each a row of `login_attempts`:

- **address** (the client's IP; an IPv6 client's whole /64, which one host usually owns):
  10 failures are free, then each attempt waits a delay that doubles from 1 s up to 15 min.
  Bounds one machine spraying guesses over many accounts.
- **account** (the email as typed, registered or not, so a 429 says nothing about which emails
  exist): 5 failures are free, then the same doubling delay. Bounds guessing one account from
  many machines. A successful login resets it.
- **device**: a browser that has logged in to this account before holds a signed cookie naming
  the account, and is counted in a bucket of its own *instead of* the account's (OWASP's "device
  cookie"). An attacker hammering the account therefore never locks its owner out of the
  browsers they already use, and a new browser waits at most the current delay.

Every attempt is charged *before* the password is checked (one transaction, rows locked), so a
burst of parallel requests cannot all slip past the check; a successful login refunds its
charge. Attempts refused with 429 charge nothing: hammering a blocked bucket does not extend its
block. A run of failures is forgotten after a quiet period (1 h per address, 24 h otherwise).
The rows live in PostgreSQL so the limit holds across processes and with Redis down.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from dataclasses import dataclass

from gateway import db, keys, settings

DEVICE_COOKIE = "gw_device"
DEVICE_LIFETIME = dt.timedelta(days=90)


@dataclass(frozen=True)
class Rule:
    free: int
    first_delay: dt.timedelta
    max_delay: dt.timedelta
    forget_after: dt.timedelta

    def delay(self, failures: int) -> dt.timedelta | None:
        """The wait before the next attempt once `failures` have been charged."""
        if failures < self.free:
            return None
        doublings = min(failures - self.free, 32)  # 2**32 s is far past any cap
        delay: dt.timedelta = min(self.first_delay * (1 << doublings), self.max_delay)
        return delay


ADDRESS = Rule(10, dt.timedelta(seconds=1), dt.timedelta(minutes=15), dt.timedelta(hours=1))
ACCOUNT = Rule(5, dt.timedelta(seconds=1), dt.timedelta(minutes=15), dt.timedelta(hours=24))
DEVICE = ACCOUNT
RULES = {"address": ADDRESS, "account": ACCOUNT, "device": DEVICE}


@dataclass(frozen=True)
class Bucket:
    kind: str
    key: str  # the row's primary key: "<kind>:<hex HMAC>"

    @property
    def rule(self) -> Rule:
        return RULES[self.kind]


@dataclass(frozen=True)
class Refused:
    kind: str
    retry_after: int  # whole seconds, at least 1


def _mac(config: settings.Settings, text: str) -> str:
    return hmac.new(
        keys.derive(config, "dashboard-login-throttle"), text.encode(), hashlib.sha256
    ).hexdigest()


def _account(email: str) -> str:
    return email.strip().lower()


def address_of(host: str | None) -> str:
    """The address a client is counted under: the IP, or its /64 for IPv6."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _device_mac(config: settings.Settings, email: str, issued: str, nonce: str) -> str:
    return _mac(config, f"device|{_account(email)}|{issued}|{nonce}")


def device_cookie(config: settings.Settings, email: str) -> str:
    """A new device cookie value for a browser that just logged in to `email`'s account."""
    issued, nonce = str(int(time.time())), secrets.token_urlsafe(12)
    return f"{issued}.{nonce}.{_device_mac(config, email, issued, nonce)}"


def _device_ok(config: settings.Settings, email: str, value: str | None) -> bool:
    if not value or len(value) > 200 or value.count(".") != 2:
        return False
    issued, nonce, mac = value.split(".")
    if not (issued.isascii() and issued.isdigit()):
        return False
    if time.time() - int(issued) > DEVICE_LIFETIME.total_seconds():
        return False
    return hmac.compare_digest(mac, _device_mac(config, email, issued, nonce))


def buckets(
    config: settings.Settings, host: str | None, email: str, device: str | None
) -> list[Bucket]:
    """The buckets one login attempt is charged to: its address, and its device (when it
    presents a valid device cookie for this account) or else the account."""
    found = [Bucket("address", "address:" + _mac(config, "address|" + address_of(host)))]
    if _device_ok(config, email, device) and device is not None:
        found.append(Bucket("device", "device:" + _mac(config, "device|" + device)))
    else:
        found.append(Bucket("account", "account:" + _mac(config, "account|" + _account(email))))
    return found


async def admit(conn: db.Conn, attempt: list[Bucket]) -> Refused | None:
    """Charge one attempt to every bucket, or to none and say how long to wait when one of
    them is blocked. Locks the rows for the charge only (never across the password check)."""
    ordered = sorted(attempt, key=lambda b: b.key)  # one lock order: no deadlock
    keys_ = [b.key for b in ordered]
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO login_attempts (bucket, expires_at)"
            " SELECT unnest(%(keys)s::text[]), now() ON CONFLICT (bucket) DO NOTHING",
            {"keys": keys_},
        )
        rows = await db.fetch_all(
            conn,
            "SELECT bucket, failures, blocked_until, expires_at, now() AS now"
            " FROM login_attempts WHERE bucket = ANY(%(keys)s) ORDER BY bucket FOR UPDATE",
            {"keys": keys_},
        )
        by_key = {row["bucket"]: row for row in rows}
        refusals = []
        for b in ordered:
            until, now = by_key[b.key]["blocked_until"], by_key[b.key]["now"]
            if until is not None and until > now:
                wait = max(1, math.ceil((until - now).total_seconds()))
                refusals.append(Refused(b.kind, wait))
        if refusals:
            return max(refusals, key=lambda r: r.retry_after)
        for b in ordered:
            row = by_key[b.key]
            failures = (row["failures"] if row["expires_at"] > row["now"] else 0) + 1
            delay = b.rule.delay(failures)
            await conn.execute(
                "UPDATE login_attempts SET failures = %(f)s, blocked_until = %(until)s,"
                " expires_at = %(expires)s WHERE bucket = %(key)s",
                {
                    "key": b.key,
                    "f": failures,
                    "until": row["now"] + delay if delay else None,
                    "expires": row["now"] + b.rule.forget_after,
                },
            )
    return None


async def succeeded(conn: db.Conn, attempt: list[Bucket]) -> None:
    """The password matched: the account's (or device's) run of failures is over, and the
    address gets back the one attempt charged for this login (its other failures stand, or
    a valid login of one's own would wash away guesses at other accounts)."""
    async with conn.transaction():
        for b in attempt:
            if b.kind == "address":
                await conn.execute(
                    "UPDATE login_attempts SET failures = greatest(failures - 1, 0),"
                    " blocked_until = CASE WHEN failures - 1 >= %(free)s THEN blocked_until END"
                    " WHERE bucket = %(key)s",
                    {"key": b.key, "free": b.rule.free},
                )
            else:
                await conn.execute(
                    "DELETE FROM login_attempts WHERE bucket = %(key)s", {"key": b.key}
                )
        # Housekeeping on the successful path; rows another login holds are left for later.
        await conn.execute(
            "DELETE FROM login_attempts WHERE bucket IN (SELECT bucket FROM login_attempts"
            " WHERE expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED)"
        )
