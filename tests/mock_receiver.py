"""The merchant's webhook receiver as an `httpx.MockTransport`: the outside world, nothing of ours.

`client()` is the worker's own webhook client, `attempts.client()`, built exactly as the worker
builds it (redirects not followed, the 5 s timeout, `Accept-Encoding: identity`, no proxies from
the environment) with one part swapped: its transport. The production transport,
`urls.Transport`, opens sockets to the addresses `urls.pin` approved; there is no socket here, so
the MockTransport stands where it would. Everything above it still runs: `attempts.send` pins
the URL (the URL policy decides, so use IP literals; test mode allows private ones), signs,
applies its own deadline, reads a bounded head of the answer and classifies failures.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from gateway import db, merchants
from gateway.webhooks import attempts, urls

# Nothing is ever sent here: the MockTransport answers instead. (Port 9 is "discard"; should a
# real worker ever pick these jobs up, the connection is refused at once.)
URL = "http://127.0.0.1:9/hook"

Answer = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


@dataclass
class Receiver:
    """Records every request it is sent and answers with `answer` (200 "ok" by default)."""

    answer: Answer = field(default=lambda request: httpx.Response(200, text="ok"))
    requests: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answered = self.answer(request)
        response = answered if isinstance(answered, httpx.Response) else await answered
        if response.is_stream_consumed:
            # `httpx.Response(200, text=...)` is born read; a transport hands over an unread
            # stream, and that is what the sender reads (a bounded head of raw bytes).
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=httpx.ByteStream(response.content),
            )
        return response


def client(receiver: Receiver) -> httpx.AsyncClient:
    """`attempts.client()` with `receiver` in place of the pinned socket transport."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(urls, "Transport", lambda *, limits: httpx.MockTransport(receiver))
        return attempts.client()


async def retire(conn: db.Conn, merchant_id: uuid.UUID) -> None:
    """Make the merchant's queued delivery jobs stale (a claim finds no pending log) and unset
    its URL, so a real worker started later in the session never acts on them."""
    await conn.execute(
        "UPDATE webhook_logs SET status = 'failed'"
        " WHERE merchant_id = %(m)s AND status = 'pending'",
        {"m": merchant_id},
    )
    await merchants.set_webhook_url(conn, merchant_id, None)
