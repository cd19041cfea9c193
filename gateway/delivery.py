"""One webhook attempt over HTTP: signed, 5 s in total, no redirects, a bounded read of the
response. No database work happens here."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from gateway import errors, signing, urls, webhook_logs

log = logging.getLogger("gateway.delivery")

TIMEOUT_SECONDS = 5.0
# Read at most this much of a response: enough for 2,048 characters of UTF-8.
READ_LIMIT = 4 * webhook_logs.RESPONSE_BODY_CHARS


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        headers={"User-Agent": "gateway-webhooks/1.0"},
        trust_env=False,
    )


async def _read_head(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_LIMIT:
            break
    text = b"".join(chunks)[:READ_LIMIT].decode("utf-8", errors="replace")
    return text[: webhook_logs.RESPONSE_BODY_CHARS]


async def attempt(
    http: httpx.AsyncClient, claim: webhook_logs.Claim, *, allow_private: bool
) -> webhook_logs.Outcome:
    if not claim.url:
        return webhook_logs.Outcome(False, None, "no webhook URL configured")
    try:
        # Checked again here, on the address it resolves to now: a URL that was public when
        # saved may point somewhere private today.
        await urls.check(claim.url, allow_private=allow_private)
    except errors.GatewayError as error:
        return webhook_logs.Outcome(False, None, error.description)
    headers = signing.headers(
        claim.event_id, int(time.time()), claim.payload, claim.secret, claim.previous_secret
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            request = http.build_request("POST", claim.url, content=claim.payload, headers=headers)
            response = await http.send(request, stream=True)
            try:
                body = await _read_head(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return webhook_logs.Outcome(False, None, f"timed out after {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as error:
        return webhook_logs.Outcome(False, None, f"{type(error).__name__}: {error}"[:200])
    ok = 200 <= response.status_code < 300
    return webhook_logs.Outcome(ok, response.status_code, body)
