"""Razorpay's error envelope for everything under /v1: `{"error": {"code", "description",
"source", "step", "reason", "field", "metadata"}}`.

Razorpay's Python SDK picks its exception class from `code` alone (BAD_REQUEST_ERROR →
BadRequestError, SERVER_ERROR → ServerError, anything else → ServerError), so every 4xx says
BAD_REQUEST_ERROR and every 5xx SERVER_ERROR; our own, finer code goes in `reason`. An unknown
or foreign id is Razorpay's 400 "The id provided does not exist", bad credentials its 401
"Authentication failed"."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from gateway import errors

PREFIX = "/v1/"
NO_ID = "The id provided does not exist"
AUTHENTICATION_FAILED = "Authentication failed"
NO_URL = "The requested URL was not found on the server"


def applies(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")


def envelope(
    status: int,
    description: str,
    reason: str,
    *,
    field: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "code": "SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR",
            "description": description,
            "source": "NA",
            "step": "NA",
            "reason": reason,
            "field": field,
            # Support finds a request by this id (also the X-Request-Id header).
            "metadata": {"request_id": request_id} if request_id else {},
        }
    }


def render(error: errors.GatewayError, request_id: str | None) -> tuple[int, dict[str, Any]]:
    """(status, body) for one of our errors raised under /v1."""
    status, description = error.status, error.description
    if isinstance(error, errors.NotFound):
        status, description = 400, NO_ID
    elif isinstance(error, errors.Unauthorized):
        description = AUTHENTICATION_FAILED
    elif isinstance(error, errors.IdempotencyKeyMismatch):
        # Razorpay answers a reused X-Refund-Idempotency with a different body as a bad request.
        status = 400
    field = getattr(error, "field", None)
    if field is None and isinstance(error, errors.NotFound):
        field = "id"
    body = envelope(status, description, error.code, field=field, request_id=request_id)
    return status, body


def translate(status: int, classic: Any) -> dict[str, Any] | None:
    """A classic envelope answered by a middleware before any /v1 route ran (413, 429, the
    last-resort 500) in Razorpay's shape; None when `classic` is not a classic envelope."""
    if not isinstance(classic, dict) or set(classic) != {"error"}:
        return None
    error = classic["error"]
    if not isinstance(error, dict) or "source" in error or "code" not in error:
        return None
    return envelope(
        status,
        str(error.get("description", "")),
        str(error["code"]),
        request_id=error.get("request_id"),
    )
