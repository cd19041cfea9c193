"""/api/v1/checkout/config: ⊕ the origins allowed to embed the merchant's hosted checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway import merchants
from gateway.api import deps

router = APIRouter(prefix="/api/v1/checkout", tags=["checkout"])


class CheckoutConfigIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The shape of an origin: a scheme, then a host and optional port with no path, query,
    # credentials or space. merchants.checkout_origin holds the rest (a valid IPv6 literal and
    # port, an ASCII host, https in production) and says which rule a value broke.
    allowed_origins: list[
        Annotated[
            str,
            StringConstraints(max_length=255, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+/?$"),
        ]
    ] = Field(
        max_length=merchants.MAX_CHECKOUT_ORIGINS,
        description="Origins (scheme://host[:port]) whose pages may embed the checkout and"
        " receive its results; https only in production; [] clears them",
    )


class CheckoutConfigOut(BaseModel):
    allowed_origins: list[str]


@router.get("/config", response_model=CheckoutConfigOut)
async def get_config(conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await merchants.checkout_config(conn, merchant.id)).out())


@router.put("/config", response_model=CheckoutConfigOut)
async def put_config(
    body: CheckoutConfigIn, conn: deps.Conn, merchant: deps.Merchant, config: deps.Config
) -> Response:
    saved = await merchants.set_checkout_origins(
        conn, merchant.id, body.allowed_origins, production=config.production
    )
    return deps.json_response(200, saved.out())
