"""The /v1 edge, outermost on the API app (pure ASGI):

- paths are normalised before anything routes or rate-limits them: the Python SDK built with a
  trailing-slash base_url asks for `//v1/orders`, and a trailing slash would otherwise earn a
  redirect (requests follows it, then the SDK treats the 3xx as an error);
- a classic error envelope sent by a middleware before any /v1 route ran (the body cap's 413,
  the rate limit's early 429, the last-resort 500) is re-shaped into Razorpay's, so the SDKs
  raise their own exception classes for it too. Routes and handlers under /v1 answer in
  Razorpay's shape already; those bodies pass through untouched."""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.rzp import errors as rzp_errors

_SLASHES = re.compile(r"/{2,}")


def normalised(path: str) -> str | None:
    """The /v1 path `path` means, or None when it is not one (left as it is)."""
    collapsed = _SLASHES.sub("/", path)
    if collapsed != "/v1" and not collapsed.startswith("/v1/"):
        return None
    trimmed = collapsed.rstrip("/") or "/"
    return trimmed


class Edge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = normalised(scope["path"])
        if path is None:
            await self.app(scope, receive, send)
            return
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, _reshaping(send))


def _reshaping(send: Send) -> Send:
    """`send`, holding back an error response until its body is complete, to re-shape it."""
    held: dict[str, Message] = {}
    chunks: list[bytes] = []

    async def send_reshaped(message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] >= 400:
                held["start"] = message
                return
            await send(message)
            return
        if message["type"] != "http.response.body" or "start" not in held:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = held.pop("start"), b"".join(chunks)
        try:
            reshaped = rzp_errors.translate(start["status"], orjson.loads(body))
        except orjson.JSONDecodeError:
            reshaped = None
        if reshaped is not None:
            body = orjson.dumps(reshaped)
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() != b"content-length"
            ]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return send_reshaped
