"""The API's credential cache: an active key and the MAC of its secret, kept in this process for
a few seconds so that a request authenticates with one HMAC and no query.

How stale it can be, and why that is acceptable: an entry lives `ttl` seconds from the moment it
was read (GATEWAY_CREDENTIAL_CACHE_SECONDS, default 5). A merchant deactivated, or an API secret
changed, in the database is refused by every process at most that long afterwards; `forget()`
drops a merchant from this process at once. Only what cannot change under a request is kept
(the merchant id and the key): a route that needs more of the merchant reads it fresh.
Unknown keys are never cached, so random keys cannot grow the cache or pin a miss."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway import db, errors, merchants, settings


@dataclass(frozen=True)
class _Entry:
    credential: merchants.Credential
    fresh_until: float


class Cache:
    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    async def authenticate(
        self,
        conn: db.Conn,
        config: settings.Settings,
        api_key: str | None,
        api_secret: str | None,
    ) -> merchants.Credential:
        """The credential this key pair belongs to, or AUTHENTICATION_ERROR
        (merchants.check_secret decides, the same way as without a cache)."""
        if not api_key or not api_secret:
            raise errors.Unauthorized()
        now = self.clock()
        entry = self._entries.get(api_key)
        if entry is None or entry.fresh_until <= now:
            found = await merchants.credential(conn, api_key)
            if found is None:
                self._entries.pop(api_key, None)
            else:
                self._remember(api_key, _Entry(found, now + self.ttl))
            credential = found
        else:
            credential = entry.credential
        return merchants.check_secret(config, credential, api_key, api_secret)

    def _remember(self, api_key: str, entry: _Entry) -> None:
        if api_key not in self._entries and len(self._entries) >= self.max_entries:
            # Full: drop the oldest entry (dicts keep insertion order); it is re-read on use.
            self._entries.pop(next(iter(self._entries)))
        self._entries[api_key] = entry

    def forget(self, merchant_id: uuid.UUID) -> None:
        """Drop a merchant's keys from this process now (after a change made here)."""
        for key in [k for k, e in self._entries.items() if e.credential.id == merchant_id]:
            del self._entries[key]
