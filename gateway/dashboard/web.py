"""What every dashboard route shares: the connection, the logged-in merchant, the CSRF check,
rendering, and the rupee/time formatting that belongs to the UI only."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.datastructures import FormData

from gateway import deps, merchants, serialize
from gateway.dashboard import sessions

ROOT = Path(__file__).resolve().parent.parent.parent / "dashboard"
templates = Jinja2Templates(directory=ROOT / "templates")


def rupees(paise: int | None) -> str:
    """₹1,23,456.50: Indian digit grouping (lakh, crore), as an INR merchant reads amounts."""
    if paise is None:
        return "—"
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(int(paise)), 100)
    digits = str(whole)
    if len(digits) > 3:
        head, groups = digits[:-3], [digits[-3:]]
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        groups.insert(0, head)
        digits = ",".join(groups)
    return f"{sign}₹{digits}.{fraction:02d}"


class AmountError(ValueError):
    pass


# Rupees as a merchant types them, ASCII digits only: Decimal() would also take exponents
# ("1e100"), NaN, Infinity, underscores and any Unicode digit (Arabic-Indic, fullwidth), none of
# which is an amount a merchant means.
AMOUNT = re.compile(r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?")
# Up to ₹9,99,99,99,999.99 (about 10**12 paise): far past any payment, and few enough digits
# that int() stays cheap (it is slow on thousands of digits, and refuses more than 4300).
MAX_WHOLE_DIGITS = 10


def parse_rupees(text: str) -> int:
    """'1,250.5' → 125050 paise; at most two decimals, positive. Any other text is an
    AmountError carrying the message for the form (never another exception)."""
    cleaned = text.strip().replace(",", "").removeprefix("₹").strip()
    match = AMOUNT.fullmatch(cleaned)
    if match is None or not (match["whole"] or match["fraction"]):
        raise AmountError("Enter the amount in rupees, e.g. 250.00")
    whole = match["whole"].lstrip("0")
    fraction = (match["fraction"] or "").rstrip("0")
    if len(fraction) > 2:
        raise AmountError("Amount can have at most two decimals (paise)")
    if len(whole) > MAX_WHOLE_DIGITS:
        raise AmountError("Amount is too large")
    paise = int(whole or "0") * 100 + int(fraction.ljust(2, "0"))
    if paise == 0 or match["sign"] == "-":
        raise AmountError("Amount must be more than ₹0.00")
    return paise


def local_time(value: str | dt.datetime | None) -> Markup:
    """A <time> element in UTC; dashboard.js re-renders it in the browser's zone and keeps the
    UTC value in the title (hover)."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    iso = serialize.timestamp(value) or "" if isinstance(value, dt.datetime) else value
    utc = iso.replace("T", " ").replace("Z", " UTC")
    return Markup('<time datetime="{0}" title="{1}">{1}</time>').format(escape(iso), utc)


templates.env.filters["rupees"] = rupees
templates.env.globals["local_time"] = local_time


# Every app keeps its pool and settings on app.state; the shared dependencies read them.
connection = deps.connection
Conn = deps.Conn
config = deps.config
Config = deps.Config


class LoginRequired(Exception):
    def __init__(self, next_path: str | None) -> None:
        super().__init__("login required")
        self.next_path = next_path


class CsrfRejected(Exception):
    pass


@dataclass(frozen=True)
class Viewer:
    merchant: merchants.Merchant
    session: sessions.Session


async def viewer(request: Request, conn: Conn) -> Viewer:
    session = await sessions.get(conn, request.cookies.get(sessions.COOKIE))
    merchant = await merchants.get(conn, session.merchant_id) if session else None
    if session is None or merchant is None or not merchant.is_active:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise LoginRequired(path if request.method == "GET" else None)
    return Viewer(merchant, session)


LoggedIn = Annotated[Viewer, Depends(viewer)]


async def form(request: Request, who: LoggedIn) -> FormData:
    """The posted form, once its CSRF token matched the session's."""
    data = await request.form()
    if not sessions.csrf_ok(who.session, data.get("csrf_token")):
        raise CsrfRejected()
    return data


CheckedForm = Annotated[FormData, Depends(form)]


def login_redirect(next_path: str | None) -> RedirectResponse:
    target = "/login"
    if next_path and safe_next(next_path):
        target += "?next=" + quote(next_path, safe="/")
    return RedirectResponse(target, status_code=303)


def safe_next(value: str | None) -> bool:
    """Only a path on this site: no scheme, no `//host`, no backslash tricks."""
    if not value:
        return False
    return value.startswith("/") and not value.startswith(("//", "/\\"))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    who: Viewer | None = None,
    status: int = 200,
) -> Response:
    ctx: dict[str, Any] = {"merchant": None, "csrf_token": None, "path": request.url.path}
    if who is not None:
        ctx.update(merchant=who.merchant, csrf_token=who.session.csrf_token)
    ctx.update(context or {})
    response: HTMLResponse = templates.TemplateResponse(request, name, ctx, status_code=status)
    return response


def int_param(value: str | None, default: int, *, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, low), high)
