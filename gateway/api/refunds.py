"""/api/v1/payments/{id}/refunds and /api/v1/refunds"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from gateway import refunds
from gateway.api import deps, openapi, pages

router = APIRouter(tags=["refunds"])


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: StrictInt = Field(gt=0, le=10**12, description="Integer paise, more than 0")
    reason: StrictStr | None = Field(
        None, max_length=255, json_schema_extra={"pattern": openapi.NO_NUL}
    )


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: int
    reason: str | None
    status: str = Field(json_schema_extra={"enum": list(refunds.STATUSES)})
    created_at: str
    processed_at: str | None


@router.post("/api/v1/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut)
async def create_refund(
    payment_id: str,
    body: RefundCreate,
    conn: deps.Conn,
    merchant: deps.Merchant,
    config: deps.Config,
    creation: deps.Create,
) -> Response:
    return await creation.created(
        lambda: refunds.create(
            conn, merchant.id, payment_id, amount=body.amount, reason=body.reason, config=config
        )
    )


@router.get("/api/v1/refunds", response_model=pages.PageOut[RefundOut])
async def list_refunds(
    conn: deps.Conn,
    merchant: deps.Merchant,
    window: pages.Window,
    status: Annotated[str | None, pages.one_of(refunds.STATUSES)] = None,
    payment_id: Annotated[str | None, Query(json_schema_extra={"pattern": openapi.NO_NUL})] = None,
) -> Response:
    page = await refunds.list_(conn, merchant.id, window, payment_id=payment_id, status=status)
    return deps.json_response(200, page.out())


@router.get("/api/v1/refunds/{refund_id}", response_model=RefundOut)
async def get_refund(refund_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await refunds.get(conn, merchant.id, refund_id)).out())
