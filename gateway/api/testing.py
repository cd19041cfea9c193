"""/api/v1/test/* — helpers for automated checkers; off with GATEWAY_TEST_ENDPOINTS=false."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway import errors, jobstatus, merchants
from gateway.api import deps

router = APIRouter(prefix="/api/v1/test", tags=["test"])


@router.get("/merchant")
async def test_merchant(conn: deps.Conn) -> Response:
    merchant = await merchants.get(conn, merchants.TEST_MERCHANT_ID)
    if merchant is None:
        raise errors.NotFound("Test merchant not seeded")
    return deps.json_response(
        200,
        {
            "id": str(merchant.id),
            "email": merchant.email,
            "api_key": merchant.api_key,
            "seeded": True,
        },
    )


@router.get("/jobs/status")
async def jobs_status(conn: deps.Conn, config: deps.Config) -> Response:
    return deps.json_response(200, (await jobstatus.counts(conn, config)).out())
