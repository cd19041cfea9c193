"""Every error the gateway can answer with, and `envelope()`, the one place that shapes an error
body: `{"error": {"code", "description"}}` (plus `request_id` where the middleware answers)."""

from __future__ import annotations

from typing import Any


def envelope(code: str, description: str, request_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "description": description}
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


class GatewayError(Exception):
    status = 400
    code = "BAD_REQUEST_ERROR"
    headers: dict[str, str] | None = None

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        if headers is not None:
            self.headers = headers

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return envelope(self.code, self.description, request_id)


class BadRequest(GatewayError):
    status = 400
    code = "BAD_REQUEST_ERROR"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "BAD_REQUEST_ERROR"

    def __init__(self, description: str = "Request body too large") -> None:
        super().__init__(description)


class Unauthorized(GatewayError):
    status = 401
    code = "AUTHENTICATION_ERROR"

    def __init__(self, description: str = "Invalid API credentials") -> None:
        super().__init__(description)


class NotFound(GatewayError):
    status = 404
    code = "NOT_FOUND_ERROR"


class InvalidVpa(GatewayError):
    code = "INVALID_VPA"


class InvalidCard(GatewayError):
    code = "INVALID_CARD"


class ExpiredCard(GatewayError):
    code = "EXPIRED_CARD"


class IdempotencyKeyMismatch(GatewayError):
    status = 422
    code = "IDEMPOTENCY_KEY_MISMATCH"


class IdempotencyKeyInUse(GatewayError):
    status = 409
    code = "IDEMPOTENCY_KEY_IN_USE"


class RateLimited(GatewayError):
    status = 429
    code = "RATE_LIMITED"


class ServiceUnavailable(GatewayError):
    status = 503
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, description: str = "Database unavailable, try again shortly") -> None:
        super().__init__(description, headers={"Retry-After": "1"})


class Internal(GatewayError):
    status = 500
    code = "INTERNAL_ERROR"

    def __init__(
        self, description: str = "An internal error occurred; quote the request id to support"
    ) -> None:
        super().__init__(description)
