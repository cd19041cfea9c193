"""The OpenAPI document tells the truth about errors: every operation lists the contract's
envelope for the statuses it can return, and FastAPI's default 422 validation shape (which this
API never sends) is removed."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "description"],
            "properties": {
                "code": {"type": "string"},
                "description": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

DESCRIPTIONS = {
    "400": "Bad request (validation, wrong state, limits)",
    "401": "Missing or invalid API credentials",
    "404": "Unknown id, or one that belongs to another merchant",
    "405": "Method not allowed",
    "409": "Idempotency-Key in use by a request still running",
    "413": "Request body too large",
    "422": "Idempotency-Key reused with a different request",
    "429": "Rate limit exceeded",
    "500": "Unexpected error (the body carries a request id)",
    "503": "Database unavailable",
}


def _codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    params = {p.get("name", "").lower() for p in operation.get("parameters", [])}
    codes = ["400", "405", "429", "500", "503"]
    if "x-api-key" in params:
        codes.append("401")
    if "{" in path or method in ("post", "put"):
        codes.append("404")
    if method in ("post", "put"):
        codes.append("413")
    if "idempotency-key" in params:
        codes += ["409", "422"]
    return codes


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for code in _codes(path, method, operation):
                    if code not in responses:
                        responses[code] = {"description": DESCRIPTIONS[code], "content": ref}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
