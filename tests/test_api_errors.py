"""Every error the app can produce leaves it as the contract's envelope."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter

from tests.conftest import assert_error


async def test_missing_credentials_are_rejected(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/api/v1/orders"), 401, "AUTHENTICATION_ERROR")
    assert body["error"]["description"] == "Invalid API credentials"


async def test_wrong_secret_is_rejected(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    headers = {**auth, "X-Api-Secret": auth["X-Api-Secret"] + "x"}
    assert_error(await client.get("/api/v1/orders", headers=headers), 401, "AUTHENTICATION_ERROR")
    headers = {**auth, "X-Api-Key": "key_test_nobody"}
    assert_error(await client.get("/api/v1/orders", headers=headers), 401, "AUTHENTICATION_ERROR")


async def test_unknown_route_is_an_envelope_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND_ERROR")


async def test_wrong_method_is_an_envelope_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/health"), 405, "BAD_REQUEST_ERROR")


async def test_malformed_json_is_a_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.post(
        "/api/v1/orders",
        content=b'{"amount": ',
        headers={**auth, "Content-Type": "application/json"},
    )
    body = assert_error(r, 400, "BAD_REQUEST_ERROR")
    assert "JSON" in body["error"]["description"]


@pytest.mark.parametrize("payload", [b"[1,2]", b'"text"', b"42", b"null"])
async def test_body_that_is_not_an_object_is_a_400(
    client: httpx.AsyncClient, auth: dict[str, str], payload: bytes
) -> None:
    r = await client.post(
        "/api/v1/orders", content=payload, headers={**auth, "Content-Type": "application/json"}
    )
    assert_error(r, 400, "BAD_REQUEST_ERROR")


async def test_form_encoded_body_is_a_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.post(
        "/api/v1/orders",
        content=b"amount=100",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    body = assert_error(r, 400, "BAD_REQUEST_ERROR")
    assert "application/json" in body["error"]["description"]


async def test_oversized_body_is_a_413(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    big = b'{"amount": 1000, "notes": {"x": "' + b"a" * 2_000_000 + b'"}}'
    r = await client.post(
        "/api/v1/orders", content=big, headers={**auth, "Content-Type": "application/json"}
    )
    assert_error(r, 413, "BAD_REQUEST_ERROR")


async def test_oversized_chunked_body_is_a_413(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"amount": 1000, "notes": {"x": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}}'

    r = await client.post(
        "/api/v1/orders", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert_error(r, 413, "BAD_REQUEST_ERROR")


async def test_unexpected_exception_is_a_500_with_request_id_and_no_internals(
    api: object, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    router = APIRouter()

    @router.get("/api/v1/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    api.include_router(router)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="gateway.api"):
        r = await client.get("/api/v1/_boom", headers={"X-Request-Id": "trace-123"})
    body = assert_error(r, 500, "INTERNAL_ERROR")
    assert body["error"]["request_id"] == "trace-123"
    assert "secret internal detail" not in r.text
    assert r.headers["X-Request-Id"] == "trace-123"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.headers["X-Request-Id"].startswith("req_")
    echoed = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    invalid = await client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert invalid.headers["X-Request-Id"].startswith("req_")


async def test_request_is_logged_once_without_secrets(
    client: httpx.AsyncClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert len(lines) == 1
    assert '"method":"POST"' in lines[0] and '"status":201' in lines[0]
    assert '"merchant":"' in lines[0] and "duration_ms" in lines[0]
    assert auth["X-Api-Secret"] not in caplog.text


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200 and "/api/v1/orders" in r.json()["paths"]
