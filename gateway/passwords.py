"""Dashboard passwords: scrypt hashes that name their own cost, checked off the event loop.

A hash is `scrypt$ln=17,r=8,p=1$<salt b64>$<digest b64>`. Hashes written before the cost was
named (`scrypt$<salt b64>$<digest b64>`) used n=2**14, r=8, p=1; they still verify, and
`needs_rehash` tells the caller to replace them at the next successful login.

scrypt is CPU- and memory-bound for a noticeable time on purpose, so it never runs on the event
loop: every check goes to a small dedicated thread pool (hashlib releases the GIL while it
works). The pool is small on purpose too: each run holds 128 MiB, and a burst of logins must
queue rather than multiply that, or crowd out the default executor the rest of the process uses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

PREFIX = "scrypt"


@dataclass(frozen=True)
class Cost:
    log2_n: int
    r: int
    p: int

    @property
    def n(self) -> int:
        return 1 << self.log2_n

    @property
    def maxmem(self) -> int:
        """What OpenSSL asks for (128·r·(n+2) for V, 128·r·p for B) plus 1 MiB of slack:
        hashlib's default cap is 32 MiB, far below the 128 MiB that OWASP's cost needs."""
        return 128 * self.r * (self.n + 2 + self.p) + (1 << 20)

    def label(self) -> str:
        return f"ln={self.log2_n},r={self.r},p={self.p}"


# OWASP Password Storage Cheat Sheet: scrypt N=2**17, r=8, p=1 (128 MiB per hash).
CURRENT = Cost(17, 8, 1)
# The cost every hash written before the cost was part of the string was made with.
LEGACY = Cost(14, 8, 1)
# A stored hash asking for more than this is refused unread: a row must not make us allocate
# gigabytes (ln=20, r=16 is already 2 GiB).
_LIMIT = Cost(20, 16, 4)
_SALT_BYTES = 16
_DIGEST_BYTES = 32

# Two threads: a burst of logins waits its turn instead of holding 128 MiB per request.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-kdf")


@dataclass(frozen=True)
class _Parsed:
    cost: Cost
    salt: bytes
    digest: bytes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _kdf(password: str, salt: bytes, cost: Cost) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        dklen=_DIGEST_BYTES,
        maxmem=cost.maxmem,
    )


def _parse_cost(text: str) -> Cost | None:
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    if set(fields) != {"ln", "r", "p"} or not all(
        v.isascii() and v.isdigit() for v in fields.values()
    ):
        return None
    cost = Cost(int(fields["ln"]), int(fields["r"]), int(fields["p"]))
    within = (
        1 <= cost.log2_n <= _LIMIT.log2_n and 1 <= cost.r <= _LIMIT.r and 1 <= cost.p <= _LIMIT.p
    )
    return cost if within else None


def _parse(stored: str | None) -> _Parsed | None:
    """The cost, salt and digest of a stored hash; None for anything we did not write."""
    if not stored:
        return None
    parts = stored.split("$")
    if parts[0] != PREFIX or len(parts) not in (3, 4):
        return None
    cost = LEGACY if len(parts) == 3 else _parse_cost(parts[1])
    if cost is None:
        return None
    try:
        salt = base64.b64decode(parts[-2], validate=True)
        digest = base64.b64decode(parts[-1], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not salt or len(digest) != _DIGEST_BYTES:
        return None
    return _Parsed(cost, salt, digest)


# Checked when there is no usable hash (unknown email, no password set, a malformed row), so a
# miss costs the same scrypt run as a wrong password and response times do not tell which
# emails are registered. Random bytes serve: no password can match them.
_DUMMY = _Parsed(CURRENT, secrets.token_bytes(_SALT_BYTES), secrets.token_bytes(_DIGEST_BYTES))


def _hash_sync(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _kdf(password, salt, CURRENT)
    return f"{PREFIX}${CURRENT.label()}${_b64(salt)}${_b64(digest)}"


def _verify_sync(password: str, stored: str | None) -> bool:
    parsed = _parse(stored)
    target = parsed or _DUMMY
    ok = hmac.compare_digest(_kdf(password, target.salt, target.cost), target.digest)
    return ok and parsed is not None


async def hash(password: str) -> str:
    """A new hash of `password` at the current cost."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, _hash_sync, password)


async def verify(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`. With no usable hash it still spends one scrypt run
    at the current cost and answers False."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, _verify_sync, password, stored)


def needs_rehash(stored: str) -> bool:
    """A valid hash made at another cost than CURRENT (replace it once the password checked)."""
    parsed = _parse(stored)
    return parsed is not None and parsed.cost != CURRENT
