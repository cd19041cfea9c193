"""/dashboard/webhooks: the URL, the secret and its rotation, a test event, the delivery log
with manual retry. Same domain calls as the API's /api/v1/webhooks routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gateway import db, errors, events, merchants, pagination, settings
from gateway.dashboard import web
from gateway.webhooks import deliveries, urls

router = APIRouter(prefix="/dashboard/webhooks")

PAGE_SIZE = 10
LAST_PAGE = pagination.MAX_OFFSET // PAGE_SIZE + 1
NOTICES = {
    "saved": "Webhook URL saved.",
    "cleared": "Webhook URL removed; no more deliveries are made.",
    "rotated": "New secret generated. The previous secret keeps signing alongside for 24 hours.",
    "test_sent": "Test webhook queued; it appears in the log below within a second or two.",
    "retry_scheduled": "Webhook retry scheduled.",
}


async def _page(
    request: Request,
    who: web.Viewer,
    conn: db.Conn,
    config: settings.Settings,
    *,
    merchant: merchants.Merchant | None = None,
    url_value: str | None = None,
    url_error: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    merchant = merchant or who.merchant
    query = request.query_params
    log_status = query.get("status") if query.get("status") in deliveries.STATUSES else None
    page_no = web.int_param(query.get("page"), 1, low=1, high=LAST_PAGE)
    listing = await deliveries.list_(
        conn,
        merchant.id,
        pagination.Window(PAGE_SIZE, (page_no - 1) * PAGE_SIZE),
        status=log_status,
    )
    return web.render(
        request,
        "webhooks.html",
        {
            "webhook_url": merchant.webhook_url if url_value is None else url_value,
            # Decrypted for this page only: the contract shows it (masked until revealed).
            "webhook_secret": merchants.reveal_webhook_secret(config, merchant),
            "configured": bool(merchant.webhook_url),
            "events": [e for e in events.TYPES if e != "webhook.test"],
            "url_error": url_error,
            "error": error,
            "notice": NOTICES.get(query.get("notice", "")),
            "logs": listing.items,
            "total": listing.total,
            "page": page_no,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "log_status": log_status,
            "statuses": deliveries.STATUSES,
            "overlap": merchants.ROTATION_OVERLAP,
        },
        who=who,
        status=status,
    )


def _back(notice: str, next_path: object = None) -> Response:
    if isinstance(next_path, str) and web.safe_next(next_path) and "?" not in next_path:
        return RedirectResponse(f"{next_path}?notice={notice}", status_code=303)
    return RedirectResponse(f"/dashboard/webhooks?notice={notice}", status_code=303)


@router.get("")
async def page(request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config) -> Response:
    return await _page(request, who, conn, config)


@router.post("/config")
async def save_config(
    request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config, form: web.CheckedForm
) -> Response:
    url = str(form.get("url", "")).strip()
    try:
        if url:
            await urls.check(url, allow_private=config.private_webhook_urls_allowed)
        await merchants.set_webhook_url(conn, who.merchant.id, url or None)
    except errors.BadRequest as error:
        return await _page(
            request, who, conn, config, url_value=url, url_error=error.description, status=400
        )
    return _back("saved" if url else "cleared")


@router.post("/rotate-secret")
async def rotate_secret(
    who: web.LoggedIn, conn: web.Conn, config: web.Config, form: web.CheckedForm
) -> Response:
    await merchants.rotate_webhook_secret(conn, who.merchant.id, config)
    return _back("rotated")


@router.post("/test")
async def send_test(
    request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config, form: web.CheckedForm
) -> Response:
    try:
        await events.send_test(conn, who.merchant.id, who.merchant.webhook_url)
    except errors.BadRequest:
        return await _page(
            request,
            who,
            conn,
            config,
            error="Save a webhook URL first, then send a test.",
            status=400,
        )
    return _back("test_sent")


@router.post("/{log_id}/retry")
async def retry(
    log_id: str, request: Request, who: web.LoggedIn, conn: web.Conn, form: web.CheckedForm
) -> Response:
    await deliveries.retry(conn, who.merchant.id, log_id)
    return _back("retry_scheduled", form.get("next"))


@router.get("/{log_id}/detail")
async def detail(log_id: str, who: web.LoggedIn, conn: web.Conn) -> Response:
    """Payload and last response body of one delivery, for the row that expands in place."""
    log = await deliveries.get(conn, who.merchant.id, log_id)
    return JSONResponse(
        {"payload": log.payload, "response_body": log.response_body},
        headers={"Cache-Control": "no-store"},
    )
