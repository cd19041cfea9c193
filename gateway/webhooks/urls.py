"""Webhook URL policy and the pinned egress that enforces it.

A merchant chooses the URL, so the name in it is attacker-controlled. Checking it in one place and
connecting in another lets the two disagree: DNS can answer a public address to the check and
127.0.0.1 to the connection (rebinding), and two IDNA encoders can turn `straße.example` into two
different names. So a name is encoded once (UTS-46, the `idna` package), resolved once (`pin`),
every address it resolves to is checked, and the connection goes to exactly those addresses
(`Transport`), with Host and TLS SNI still the name. The check at save time (`check`) runs the
same encoder and the same address rules."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx
import idna

from gateway import errors

MAX_LENGTH = 2048
# The delivery's own 5 s budget covers the lookup too; at save time this bounds it alone.
RESOLVE_TIMEOUT_SECONDS = 5.0
# The request extension that carries a request's Target to the transport.
TARGET_EXTENSION = "gateway_webhook_target"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's special-purpose registries (IPv4 and IPv6) plus NAT64/6to4/Teredo prefixes that embed an
# IPv4 address a gateway would forward to. Listed explicitly because Python's `ipaddress` flags
# lag the registries (3.11 treats 192.0.0.8, 2002::/16, 3fff::/20 and 192.88.99.0/24 as global).
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "192.175.48.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "2620:4f:8000::/48",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
# Cloud metadata and host-agent endpoints. Refused even where private addresses are allowed (test
# mode, the demo's setting): a demo running on a cloud VM must not hand out its instance
# credentials. Azure's 168.63.129.16 is a public address, so no flag covers it.
_METADATA = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "168.63.129.16/32",
        "100.100.100.200/32",
        "fd00:ec2::254/128",
    )
)
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# WHATWG and inet_aton read a name whose last label is a number as an IPv4 address ("127.1",
# "0x7f.1", "2130706433"): such a name is not a DNS name, and it is refused outright.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


class Refused(errors.BadRequest):
    """The URL may not be used. `category` is the short word an attempt records
    (invalid_url, dns, forbidden_address); the description is for the merchant."""

    def __init__(self, category: str, description: str) -> None:
        super().__init__(description)
        self.category = category


@dataclass(frozen=True)
class Target:
    """A URL resolved once and approved: `url` carries `host` (the A-label, or the canonical IP)
    and the connection may go only to `addresses`, for `host`:`port`."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _ip(address: str) -> IPAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def forbidden(address: str, *, allow_private: bool) -> bool:
    """True when a webhook may not connect to `address` under this policy."""
    ip = _ip(address)
    if any(ip in network for network in _METADATA):
        return True
    if allow_private:
        return False
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in network for network in _SPECIAL)
    )


def _ascii_host(host: str) -> str:
    """The one encoding of a host: a canonical IP literal, or the UTS-46 A-label that is both
    resolved and sent (Host, SNI). Python's socket module would apply IDNA 2003 and httpx IDNA
    2008 to the same Unicode name; neither ever sees one here."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        name = idna.encode(host, uts46=True, transitional=False, std3_rules=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise Refused("invalid_url", "Webhook URL host is not a valid domain name") from None
    name = name.lower()
    labels = name.removesuffix(".").split(".")
    if (
        len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _NUMERIC_LABEL.fullmatch(labels[-1])
    ):
        raise Refused("invalid_url", "Webhook URL host is not a valid domain name")
    return name


def parse(url: str) -> tuple[str, int, str]:
    """(ascii host, port, URL with that host) of a well-formed http(s) URL, else Refused."""
    if len(url) > MAX_LENGTH:
        raise Refused("invalid_url", f"Webhook URL must be at most {MAX_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("invalid_url", "Webhook URL must use http or https")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise Refused("invalid_url", "Webhook URL has an invalid port") from None
    if not host:
        raise Refused("invalid_url", "Webhook URL must include a host")
    if parts.username is not None or parts.password is not None:
        raise Refused("invalid_url", "Webhook URL must not contain credentials")
    ascii_host = _ascii_host(host)
    netloc = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port is not None:
        netloc += f":{port}"
    # The fragment is never sent; path and query go out as the merchant wrote them.
    sent = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return ascii_host, port or (443 if parts.scheme == "https" else 80), sent


def check_syntax(url: str) -> tuple[str, int]:
    """(host, port) of a well-formed http(s) URL, else BAD_REQUEST_ERROR."""
    host, port, _ = parse(url)
    return host, port


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the system's preferred order ([] when it does not
    resolve). `host` is already ASCII. The one lookup a delivery makes; tests replace it."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def pin(url: str, *, allow_private: bool) -> Target:
    """Parse, encode, resolve once and approve `url`, else raise Refused."""
    host, port, sent = parse(url)
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise Refused("dns", f"Webhook URL host {host} did not resolve in time") from None
    if not addresses:
        raise Refused("dns", f"Webhook URL host {host} does not resolve")
    # Every address, not just the first: the connection may fall back to any of them.
    if any(forbidden(a, allow_private=allow_private) for a in addresses):
        raise Refused(
            "forbidden_address",
            "Webhook URL resolves to a private or reserved address; use a public address"
            " (private addresses are allowed only in test mode)",
        )
    return Target(url=sent, host=host, port=port, addresses=tuple(addresses))


async def check(url: str, *, allow_private: bool) -> None:
    """Raise BAD_REQUEST_ERROR with a clear description when `url` may not be used. Run when the
    URL is saved; every delivery pins it again on what it resolves to then."""
    host, _, _ = parse(url)
    if allow_private:
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError:
            # A name may point at a receiver that is not up yet; the delivery resolves it.
            return
        if forbidden(ip, allow_private=True):
            raise Refused("forbidden_address", "Webhook URL is a cloud metadata address")
        return
    await pin(url, allow_private=False)


async def connect(
    address: str, port: int, connect_timeout: float | None
) -> httpcore.AsyncNetworkStream:
    """Open a TCP connection to one approved address: the only place a webhook socket is
    opened (tests replace it to stand in for the Internet)."""
    return await _SYSTEM.connect_tcp(address, port, timeout=connect_timeout)


_SYSTEM = httpcore.AnyIOBackend()
_current: contextvars.ContextVar[Target | None] = contextvars.ContextVar(
    "gateway_webhook_target", default=None
)


class NotPinned(httpcore.ConnectError):
    """A connection was asked for without an approved address. (A class, not a cause: httpcore's
    pool re-raises with `from None`, which drops an exception's __cause__.)"""


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's socket opener, restricted to the current request's approved addresses. Never
    resolves a name: a new connection for anything but the pinned host:port is refused (a
    request sent without a Target, a redirect to another origin)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        target = _current.get()
        if target is None or (host, port) != (target.host, target.port):
            raise NotPinned(f"no approved address for {host}:{port}")
        # In the resolver's order, as a system connect would; the last failure is the answer.
        *others, last = target.addresses
        for address in others:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return await connect(address, port, timeout)
        return await connect(last, port, timeout)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await _SYSTEM.sleep(seconds)


class Transport(httpx.AsyncHTTPTransport):
    """httpx's HTTP transport whose connection pool opens sockets only through the pinned
    backend. Connections are pooled per origin (scheme, A-label, port), so TLS sessions are
    never shared between names; a kept-alive connection was approved when it was opened."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # AsyncHTTPTransport takes no network backend, so its pool is replaced by one built
        # the same way plus ours (tests/security/test_webhook_egress.py fails if this stops
        # being the pool httpx uses).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = request.extensions.get(TARGET_EXTENSION)
        token = _current.set(target if isinstance(target, Target) else None)
        try:
            return await super().handle_async_request(request)
        finally:
            _current.reset(token)
