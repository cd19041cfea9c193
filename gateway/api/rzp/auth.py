"""HTTP Basic `key_id:key_secret`, as Razorpay's SDKs send it, through the same authentication
and rate-limit gate as the classic X-Api-Key/X-Api-Secret headers."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from gateway import merchants
from gateway.api import deps


def credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """(key, secret) from `Basic base64(key:secret)`; (None, None) for anything else, which
    authentication then refuses like a wrong secret (and counts as a failure)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not token:
        return None, None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, None
    key, colon, secret = decoded.partition(":")
    if not colon:
        return None, None
    return key, secret


async def basic_merchant(
    request: Request, conn: deps.Conn, config: deps.Config
) -> merchants.Merchant:
    key, secret = credentials(request.headers.get("authorization"))
    return await deps.authenticate(request, conn, config, key, secret)


Merchant = Annotated[merchants.Merchant, Depends(basic_merchant)]
