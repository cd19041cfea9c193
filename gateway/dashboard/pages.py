"""Home (credentials and stats), transactions, one payment with its refunds and deliveries, and
the integration docs. Every read goes through the domain modules, scoped to the viewer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway import db, errors, merchants, pagination, payments, refunds, settings
from gateway.dashboard import docs, web
from gateway.webhooks import deliveries

router = APIRouter()

PAGE_SIZE = 20
LAST_PAGE = pagination.MAX_OFFSET // PAGE_SIZE + 1
# Deliveries shown on a payment page: its own events' and its refunds', newest first.
DELIVERIES_SHOWN = 200
REFUNDS_SHOWN = 100
NOTICES = {
    "refund_created": "Refund created. It is processed in a few seconds.",
    "retry_scheduled": "Webhook retry scheduled.",
}


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/webhooks")
async def webhooks_alias() -> Response:
    return RedirectResponse("/dashboard/webhooks", status_code=307)


@router.get("/docs")
async def docs_alias() -> Response:
    return RedirectResponse("/dashboard/docs", status_code=307)


@router.get("/dashboard")
async def home(request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config) -> Response:
    stats = await payments.stats(conn, who.merchant.id)
    # The contract shows the API secret here (masked until revealed): decrypted for this page.
    api_secret = merchants.reveal_api_secret(config, who.merchant)
    return web.render(request, "home.html", {"stats": stats, "api_secret": api_secret}, who=who)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/dashboard/transactions")
async def transactions(request: Request, who: web.LoggedIn, conn: web.Conn) -> Response:
    query = request.query_params
    status = _choice(query.get("status"), payments.STATUSES)
    method = _choice(query.get("method"), payments.METHODS)
    page_no = web.int_param(query.get("page"), 1, low=1, high=LAST_PAGE)
    listing = await payments.list_(
        conn,
        who.merchant.id,
        pagination.Window(PAGE_SIZE, (page_no - 1) * PAGE_SIZE),
        status=status,
        method=method,
    )
    return web.render(
        request,
        "transactions.html",
        {
            "rows": listing.items,
            "total": listing.total,
            "page": page_no,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "status": status,
            "method": method,
            "statuses": payments.STATUSES,
            "methods": payments.METHODS,
        },
        who=who,
    )


async def _payment_page(
    request: Request,
    who: web.Viewer,
    conn: db.Conn,
    payment_id: str,
    *,
    refund_error: str | None = None,
    refund_amount: str = "",
    refund_reason: str = "",
    status: int = 200,
) -> Response:
    payment = await payments.get(conn, who.merchant.id, payment_id)
    refund_list = await refunds.list_(
        conn, who.merchant.id, pagination.Window(REFUNDS_SHOWN), payment_id=payment.id, status=None
    )
    sent = await deliveries.for_payment(conn, who.merchant.id, payment.id, limit=DELIVERIES_SHOWN)
    return web.render(
        request,
        "payment.html",
        {
            "p": payment,
            "refunds": refund_list.items,
            "deliveries": sent,
            "available": payment.refundable_amount,
            "refundable": payment.status == "success" and payment.refundable_amount > 0,
            "refund_error": refund_error,
            "refund_amount": refund_amount,
            "refund_reason": refund_reason,
            "notice": NOTICES.get(request.query_params.get("notice", "")),
        },
        who=who,
        status=status,
    )


@router.get("/dashboard/transactions/{payment_id}")
async def payment_page(
    payment_id: str, request: Request, who: web.LoggedIn, conn: web.Conn
) -> Response:
    return await _payment_page(request, who, conn, payment_id)


@router.post("/dashboard/transactions/{payment_id}/refunds")
async def create_refund(
    payment_id: str,
    request: Request,
    who: web.LoggedIn,
    conn: web.Conn,
    config: web.Config,
    form: web.CheckedForm,
) -> Response:
    amount_text = str(form.get("amount", ""))
    reason = str(form.get("reason", "")).strip()[:255] or None
    try:
        amount = web.parse_rupees(amount_text)
        await refunds.create(
            conn, who.merchant.id, payment_id, amount=amount, reason=reason, config=config
        )
    except (web.AmountError, errors.BadRequest) as error:
        message = str(error) if isinstance(error, web.AmountError) else error.description
        return await _payment_page(
            request,
            who,
            conn,
            payment_id,
            refund_error=message,
            refund_amount=amount_text,
            refund_reason=reason or "",
            status=400,
        )
    # Post/redirect/get: a reload of the result page cannot submit the refund again.
    return RedirectResponse(
        f"/dashboard/transactions/{payment_id}?notice=refund_created", status_code=303
    )


async def _docs(
    request: Request,
    who: web.Viewer,
    conn: db.Conn,
    config: settings.Settings,
    *,
    origins_value: str | None = None,
    origins_error: str | None = None,
    status: int = 200,
) -> Response:
    saved = await merchants.checkout_config(conn, who.merchant.id)
    return web.render(
        request,
        "docs.html",
        {
            "snippets": docs.snippets(who.merchant, config),
            "checkout_origins": "\n".join(saved.allowed_origins)
            if origins_value is None
            else origins_value,
            "origins_error": origins_error,
            "origins_saved": request.query_params.get("notice") == "origins_saved",
            "production": config.production,
        },
        who=who,
        status=status,
    )


@router.get("/dashboard/docs")
async def docs_page(
    request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config
) -> Response:
    return await _docs(request, who, conn, config)


@router.post("/dashboard/docs/checkout-origins")
async def save_checkout_origins(
    request: Request, who: web.LoggedIn, conn: web.Conn, config: web.Config, form: web.CheckedForm
) -> Response:
    """The same setting as PUT /api/v1/checkout/config: one origin per line (or comma)."""
    text = str(form.get("origins", ""))
    origins = [o.strip() for o in text.replace(",", "\n").splitlines() if o.strip()]
    try:
        await merchants.set_checkout_origins(
            conn, who.merchant.id, origins, production=config.production
        )
    except errors.BadRequest as error:
        return await _docs(
            request,
            who,
            conn,
            config,
            origins_value=text,
            origins_error=error.description,
            status=400,
        )
    return RedirectResponse(
        "/dashboard/docs?notice=origins_saved#section-checkout-origins", status_code=303
    )
