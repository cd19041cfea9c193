"""The OpenAPI document tells the truth about errors: every operation lists the contract's
envelope for the statuses it can return, and FastAPI's default 422 validation shape (which this
API never sends) is removed.

Many rules are checked by the domain, which words the 400 (or answers 404 first, as the contract
orders); the API states them with `json_schema_extra` instead of letting pydantic enforce them.
Stated beside a nullable type, such a keyword lands next to an `anyOf`; `_tidy` moves it into
the branch it constrains, and drops the null branch of parameters (a query or header value is
absent, never null), so that generated clients see plain typed constraints."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

# PostgreSQL's text and jsonb cannot hold a NUL: free text containing one is refused with a 400.
NO_NUL = r"^[^\x00]*$"

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

HEADERS = {
    "405": {"Allow": "Every method the path supports"},
    "409": {"Retry-After": "Seconds to wait before retrying"},
    "429": {"Retry-After": "Seconds to wait before retrying"},
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


# Keywords that constrain one type only, so moving them into that type's branch keeps their
# meaning (`enum` is not one: beside the anyOf it also excludes null).
_KEYWORDS = {
    "string": ("pattern", "minLength", "maxLength", "format"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}


def _tidy(schema: Any, *, nullable: bool = True) -> Any:
    """`{"anyOf": [{"type": T}, {"type": "null"}], "pattern": …}` → the keyword inside the T
    branch; with `nullable=False`, the null branch dropped too. Recurses through the document."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _tidy(value) for key, value in schema.items()}
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    for kind, keywords in _KEYWORDS.items():
        typed = [b for b in branches if isinstance(b, dict) and b.get("type") == kind]
        if len(typed) == 1:
            for keyword in keywords:
                if keyword in schema:
                    typed[0][keyword] = schema.pop(keyword)
    if not nullable:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1:
            del schema["anyOf"]
            schema = {**rest[0], **schema}
    return schema


def _responses(path: str, method: str, operation: dict[str, Any]) -> None:
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    for code in _codes(path, method, operation):
        if code not in responses:
            responses[code] = {"description": DESCRIPTIONS[code], "content": ref}
        headers = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in HEADERS.get(code, {}).items()
        }
        if headers:
            responses[code].setdefault("headers", {}).update(headers)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema: dict[str, Any] = _tidy(
            get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    parameter["schema"] = _tidy(parameter["schema"], nullable=False)
                _responses(path, method, operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
