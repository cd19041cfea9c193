"""Every error the API can produce, rendered as the contract's envelope."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status = 400
    code = "BAD_REQUEST_ERROR"
    headers: dict[str, str] | None = None

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        if headers is not None:
            self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "description": self.description}}


class BadRequest(GatewayError):
    status = 400
    code = "BAD_REQUEST_ERROR"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "BAD_REQUEST_ERROR"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "BAD_REQUEST_ERROR"


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


def envelope(code: str, description: str) -> dict[str, Any]:
    return {"error": {"code": code, "description": description}}
