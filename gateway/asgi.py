"""Pure-ASGI pieces every web app shares: the request-body cap.

Here rather than in one app, so the API and the dashboard run the same code without one app
importing the other; each says how its own refusal looks (the API's JSON envelope with the
request id, the dashboard's error page)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answers a refused request: (scope, send) -> the whole 413 response.
Reject = Callable[[Scope, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from receive() once the body passes the cap. An HTTPException because FastAPI
    re-raises those when it meets them while reading a body (anything else becomes its own
    400), so an app may answer it with its own handler; BodyLimit answers when none did."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body too large")


def declared_too_large(scope: Scope, max_body: int) -> bool:
    """A Content-Length over the cap, or one that is not a plain number (a framing trick)."""
    for name, value in scope["headers"]:
        if name != b"content-length":
            continue
        # A 19-digit length is past any cap, and int() of thousands of digits would raise.
        if not value.isdigit() or len(value) > 18 or int(value) > max_body:
            return True
    return False


def capped(receive: Receive, max_body: int) -> Receive:
    """`receive`, raising BodyTooLarge once the body read so far passes `max_body` bytes."""
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body:
                raise BodyTooLarge()
        return message

    return capped_receive


class BodyLimit:
    """Refuses a body larger than `max_body` bytes without holding more than that in memory:
    a too-large Content-Length is refused before the app runs (nothing is read), and a body
    without one (chunked) is counted as the app reads it and cut off once it passes the cap."""

    def __init__(self, app: ASGIApp, max_body: int, reject: Reject) -> None:
        self.app = app
        self.max_body = max_body
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope, self.max_body):
            await self.reject(scope, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped(receive, self.max_body), tracked_send)
        except BodyTooLarge:
            # Read outside any handler that knows it (or the app let it through): answer here,
            # unless a response is already under way, which then simply ends.
            if not started:
                await self.reject(scope, send)
