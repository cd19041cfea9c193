"""/api/v1/webhooks: delivery logs, manual retry, ⊕ configuration (URL and body format),
rotation and a test event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway import events, merchants, settings
from gateway.api import deps, openapi, pages
from gateway.webhooks import deliveries, urls

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class WebhookLogOut(BaseModel):
    id: str
    event: str = Field(json_schema_extra={"enum": list(events.ALL_TYPES)})
    status: str = Field(json_schema_extra={"enum": list(deliveries.STATUSES)})
    attempts: int
    created_at: str
    last_attempt_at: str | None
    next_retry_at: str | None
    response_code: int | None
    event_id: str
    resource_id: str


class WebhookLogDetail(WebhookLogOut):
    payload: str
    response_body: str | None


# urls.check_syntax's first rule, around the spaces put_config strips: http or https (any case).
WEBHOOK_URL = r"^\s*(?:[Hh][Tt][Tt][Pp][Ss]?://[\s\S]*)?$"


class WebhookConfigIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Stated, not enforced here: put_config strips the URL (empty clears it) and urls.check()
    # words the 400. Outside test mode the host must also resolve to a public address.
    url: str | None = Field(
        description="An http(s) URL; null or empty clears it",
        json_schema_extra={"maxLength": urls.MAX_LENGTH, "pattern": WEBHOOK_URL},
    )
    # Stated, not enforced here: merchants.set_webhook_url words the 400.
    format: str | None = Field(
        None,
        description="classic (the default: the contract's bodies) or razorpay (Razorpay's"
        " event envelope and X-Razorpay-Signature); absent or null keeps the current one",
        # null listed too: beside the nullable type an enum alone would exclude it.
        json_schema_extra={"enum": [*merchants.WEBHOOK_FORMATS, None]},
    )


class WebhookConfigOut(BaseModel):
    url: str | None
    secret: str
    events: list[str]
    format: str = Field(json_schema_extra={"enum": list(merchants.WEBHOOK_FORMATS)})


class RetryOut(BaseModel):
    id: str
    status: str
    message: str


def _config_out(merchant: merchants.Merchant, config: settings.Settings) -> dict[str, object]:
    # Decrypted only here, for the merchant's own config answer (the contract shows it).
    types = events.RAZORPAY_TYPES if merchant.webhook_format == "razorpay" else events.TYPES
    return {
        "url": merchant.webhook_url,
        "secret": merchants.reveal_webhook_secret(config, merchant),
        "events": [e for e in types if e != "webhook.test"],
        "format": merchant.webhook_format,
    }


@router.get("", response_model=pages.PageOut[WebhookLogOut])
async def list_webhooks(
    conn: deps.Conn,
    merchant: deps.Merchant,
    limit: pages.Limit = 10,
    offset: pages.Offset = 0,
    status: Annotated[str | None, pages.one_of(deliveries.STATUSES)] = None,
    event: Annotated[str | None, pages.one_of(events.ALL_TYPES)] = None,
    resource_id: Annotated[
        str | None, Query(max_length=64, json_schema_extra={"pattern": openapi.NO_NUL})
    ] = None,
) -> Response:
    page = await deliveries.list_(
        conn,
        merchant.id,
        limit=limit,
        offset=offset,
        status=status,
        event=event,
        resource_id=resource_id,
    )
    return deps.json_response(200, page.out())


@router.get("/config", response_model=WebhookConfigOut)
async def get_config(merchant: deps.Merchant, config: deps.Config) -> Response:
    return deps.json_response(200, _config_out(merchant, config))


@router.put("/config", response_model=WebhookConfigOut)
async def put_config(
    body: WebhookConfigIn, conn: deps.Conn, merchant: deps.Merchant, config: deps.Config
) -> Response:
    url = body.url.strip() if body.url else None
    if url:
        await urls.check(url, allow_private=config.private_webhook_urls_allowed)
    updated = await merchants.set_webhook_url(conn, merchant.id, url, webhook_format=body.format)
    return deps.json_response(200, _config_out(updated, config))


@router.post("/config/rotate-secret", response_model=WebhookConfigOut)
async def rotate_secret(conn: deps.Conn, merchant: deps.Merchant, config: deps.Config) -> Response:
    updated = await merchants.rotate_webhook_secret(conn, merchant.id, config)
    return deps.json_response(200, _config_out(updated, config))


@router.post("/test", status_code=202)
async def send_test(conn: deps.Conn, merchant: deps.Merchant) -> Response:
    event = await events.send_test(conn, merchant.id, merchant.webhook_url)
    return deps.json_response(
        202,
        {
            "event_id": event.id,
            "webhook_log_id": str(event.webhook_log_id) if event.webhook_log_id else None,
            "status": "pending",
        },
    )


@router.get("/{log_id}", response_model=WebhookLogDetail)
async def get_webhook(log_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    return deps.json_response(200, (await deliveries.get(conn, merchant.id, log_id)).out())


@router.post("/{log_id}/retry", response_model=RetryOut)
async def retry_webhook(log_id: str, conn: deps.Conn, merchant: deps.Merchant) -> Response:
    retried = await deliveries.retry(conn, merchant.id, log_id)
    return deps.json_response(
        200, {"id": str(retried.id), "status": "pending", "message": "Webhook retry scheduled"}
    )
