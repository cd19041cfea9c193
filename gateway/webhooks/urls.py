"""Webhook URL rules: http(s) only and, outside test mode, no address a merchant should not be
able to make us call (loopback, private, link-local, cloud metadata, ...)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from gateway import errors

MAX_LENGTH = 2048


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or str(ip) in ("100.100.100.200", "fd00:ec2::254")  # cloud metadata endpoints
        or ip in ipaddress.ip_network("100.64.0.0/10")
    )


def check_syntax(url: str) -> tuple[str, int]:
    """(host, port) of a well-formed http(s) URL, else BAD_REQUEST_ERROR."""
    if len(url) > MAX_LENGTH:
        raise errors.BadRequest(f"Webhook URL must be at most {MAX_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise errors.BadRequest("Webhook URL must use http or https")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise errors.BadRequest("Webhook URL has an invalid port") from None
    if not host:
        raise errors.BadRequest("Webhook URL must include a host")
    if parts.username or parts.password:
        raise errors.BadRequest("Webhook URL must not contain credentials")
    return host, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


async def check(url: str, *, allow_private: bool) -> None:
    """Raise BAD_REQUEST_ERROR with a clear description when `url` may not be used. Checked
    when the URL is saved and again, on the resolved address, before every delivery."""
    host, port = check_syntax(url)
    if allow_private:
        return
    addresses = await resolve(host, port)
    if not addresses:
        raise errors.BadRequest(f"Webhook URL host {host} does not resolve")
    bad = [a for a in addresses if _forbidden(a)]
    if bad:
        raise errors.BadRequest(
            f"Webhook URL resolves to a private or reserved address ({bad[0]}); use a public"
            " address (private addresses are allowed only in test mode)"
        )
