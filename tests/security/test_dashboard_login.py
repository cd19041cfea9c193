"""Attacks on the dashboard (issue 11): guessing passwords, a KDF that stalls the event loop,
bodies of any size, and refund amounts that are not amounts.

Each attack is made the way an attacker would make it, over HTTP against the real app and
database; the scrypt cost is the production one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import time
from typing import Any

import httpx
import pytest

from gateway import db, merchants, payments, settings
from gateway.dashboard import sessions, web
from tests.dashboard.conftest import client_for, csrf_from, login, page_csrf, random_address
from tests.helpers import new_payment

MiB = 1024 * 1024
CHUNK = 64 * 1024


def assert_throttled(r: httpx.Response) -> None:
    """The login page again, with 429, a Retry-After and a message that says what happened."""
    assert r.status_code == 429, (r.status_code, r.text[:300])
    assert int(r.headers["retry-after"]) >= 1
    assert "Too many failed logins" in r.text and "Try again in" in r.text
    assert 'data-test-id="login-form"' in r.text
    assert 'data-test-id="email-input"' in r.text


async def fail_until_blocked(
    clients: list[httpx.AsyncClient], emails: list[str], *, free: int
) -> httpx.Response:
    """Wrong passwords until the app answers 429 with at least 2 s to wait (a 1 s block may end
    while the next guess is on its way). The first `free` guesses must each be checked (401):
    they run concurrently over `clients`, as an impatient attacker sends them."""
    statuses: list[int] = []
    for start in range(0, free, len(clients)):
        batch = [emails[i % len(emails)] for i in range(start, min(start + len(clients), free))]
        answers = await asyncio.gather(
            *(login(c, e, "a guess") for c, e in zip(clients, batch, strict=False))
        )
        statuses += [r.status_code for r in answers]
    assert statuses == [401] * free, statuses
    for attempt in range(free, free + 60):
        r = await login(clients[0], emails[attempt % len(emails)], "a guess")
        assert r.status_code in (401, 429), r.status_code
        if r.status_code == 429 and int(r.headers["retry-after"]) >= 2:
            return r
        if r.status_code == 429:
            await asyncio.sleep(0.2)
    raise AssertionError("never throttled")


async def test_guessing_one_account_is_throttled_but_its_owner_still_gets_in(
    dashboard_app: Any, owner: merchants.Merchant, conn: db.Conn, config: settings.Settings
) -> None:
    async with (
        client_for(dashboard_app) as owners_browser,
        client_for(dashboard_app) as attacker,
        client_for(dashboard_app) as new_browser,
    ):
        # The owner logged in from this browser before the attack began (and the session has
        # since ended; the browser keeps its cookies otherwise).
        assert (await login(owners_browser, owner.email)).status_code == 303
        owners_browser.cookies.delete(sessions.COOKIE)

        blocked = await fail_until_blocked([attacker], [owner.email], free=5)
        assert_throttled(blocked)
        assert "for this account" in blocked.text
        # While blocked not even the right password is checked, from any new place.
        assert_throttled(await login(attacker, owner.email))
        assert_throttled(await login(new_browser, owner.email))
        # The owner's own browser, elsewhere, is counted apart: the attacker cannot lock it out.
        assert (await login(owners_browser, owner.email)).status_code == 303

        # Once the delay has passed, the right password works from anywhere, and it resets the
        # account's count: the next wrong guess is checked again (401), not blocked.
        from gateway.dashboard import throttle

        account = throttle.buckets(config, "198.51.100.1", owner.email, None)[1]
        assert account.kind == "account"
        await conn.execute(
            "UPDATE login_attempts SET blocked_until = now() WHERE bucket = %(k)s",
            {"k": account.key},
        )
        assert (await login(new_browser, owner.email)).status_code == 303
        assert (await login(attacker, owner.email, "another guess")).status_code == 401


async def test_guessing_from_one_address_is_throttled_across_accounts(
    dashboard_app: Any, owner: merchants.Merchant
) -> None:
    address = random_address()
    emails = [f"nobody-{os.urandom(4).hex()}@example.com" for _ in range(30)]
    async with (
        client_for(dashboard_app, address) as a,
        client_for(dashboard_app, address) as b,
        client_for(dashboard_app, address) as c,
    ):
        # One guess per account never reaches an account's limit; the address's stops it.
        blocked = await fail_until_blocked([a, b, c], emails, free=10)
        assert_throttled(blocked)
        assert "from your network" in blocked.text
        assert_throttled(await login(b, owner.email))
    async with client_for(dashboard_app) as elsewhere:
        assert (await login(elsewhere, owner.email)).status_code == 303


async def test_a_burst_of_failed_logins_never_runs_the_kdf_on_the_event_loop(
    dashboard_app: Any, owner: merchants.Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[tuple[int, float, float]] = []
    real_scrypt = hashlib.scrypt

    def timed_scrypt(*args: Any, **kwargs: Any) -> bytes:
        start = time.perf_counter()
        try:
            return real_scrypt(*args, **kwargs)
        finally:
            runs.append((threading.get_ident(), start, time.perf_counter()))

    monkeypatch.setattr(hashlib, "scrypt", timed_scrypt)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.002)

    address = random_address()

    async def guess(i: int) -> int:
        email = owner.email if i == 0 else f"ghost-{os.urandom(4).hex()}@example.com"
        async with client_for(dashboard_app, address) as c:
            return (await login(c, email, "a guess")).status_code

    loop_thread = threading.get_ident()
    ticking = asyncio.create_task(ticker())
    try:
        statuses = await asyncio.gather(*(guess(i) for i in range(4)))
    finally:
        ticking.cancel()
    assert statuses == [401] * 4
    assert len(runs) >= 4
    assert [thread for thread, _, _ in runs if thread == loop_thread] == []
    # The loop kept turning all through every scrypt run.
    stalled = [(end - start) for _, start, end in runs if not any(start < t < end for t in ticks)]
    assert stalled == []


async def test_unknown_email_costs_the_same_scrypt_run_as_a_wrong_password(
    conn: db.Conn, owner: merchants.Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs: list[tuple[int, int, int]] = []
    real_scrypt = hashlib.scrypt

    def recording(password: bytes, **kwargs: Any) -> bytes:
        costs.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return real_scrypt(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", recording)
    assert await merchants.check_login(conn, owner.email, "wrong", demo_mode=False) is None
    assert await merchants.check_login(conn, "nobody@example.com", "x", demo_mode=False) is None
    assert await merchants.check_login(conn, "", "x", demo_mode=False) is None
    # OWASP's scrypt parameters, for a real hash and for the stand-in alike.
    assert costs == [(2**17, 8, 1)] * 3


async def test_an_old_hash_is_upgraded_at_the_next_successful_login(conn: db.Conn) -> None:
    from gateway import passwords

    salt = os.urandom(16)
    digest = hashlib.scrypt(b"old s3cret", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    suffix = os.urandom(6).hex()
    m = await merchants.create(
        conn, name="Old", email=f"old{suffix}@example.com", config=settings.get()
    )
    await conn.execute(
        "UPDATE merchants SET password_hash = %(h)s WHERE id = %(id)s", {"h": legacy, "id": m.id}
    )
    assert passwords.needs_rehash(legacy)
    assert await merchants.check_login(conn, m.email, "wrong", demo_mode=False) is None
    unchanged = await merchants.get(conn, m.id)
    assert unchanged is not None and unchanged.password_hash == legacy

    assert await merchants.check_login(conn, m.email, "old s3cret", demo_mode=False) is not None
    upgraded = await merchants.get(conn, m.id)
    assert upgraded is not None and upgraded.password_hash is not None
    assert upgraded.password_hash.startswith("scrypt$ln=17,r=8,p=1$")
    assert not passwords.needs_rehash(upgraded.password_hash)
    assert await merchants.check_login(conn, m.email, "old s3cret", demo_mode=False) is not None


@pytest.mark.parametrize(
    "stored",
    [
        "scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,  # 2**40 · 1 KiB
        "scrypt$ln=17,r=8,p=1$not base64!$" + "A" * 44,
        "scrypt$ln=17,r=8$AAAA$AAAA",
        "bcrypt$whatever",
        "",
    ],
)
async def test_a_stored_hash_we_did_not_write_never_matches_nor_crashes(stored: str) -> None:
    from gateway import passwords

    assert await passwords.verify("anything", stored) is False


async def test_demo_mode_test_merchant_is_never_throttled(dashboard_app: Any) -> None:
    # The contract's checkers log in as the seeded merchant with any password, often.
    async with client_for(dashboard_app) as c:
        for i in range(8):
            r = await login(c, merchants.TEST_MERCHANT_EMAIL, f"any password {i}")
            assert r.status_code == 303, r.text[:300]
            c.cookies.delete(sessions.COOKIE)


class Streamed:
    """A request body made on demand, counting how much of it the server pulled."""

    def __init__(self, head: bytes, total: int, tail: bytes = b"") -> None:
        self.parts = [head]
        self.filler = total - len(head) - len(tail)
        self.tail = tail
        self.sent = 0

    def __aiter__(self) -> Streamed:
        return self

    async def __anext__(self) -> bytes:
        if self.parts:
            chunk = self.parts.pop()
        elif self.filler > 0:
            chunk = b"A" * min(CHUNK, self.filler)
            self.filler -= len(chunk)
        elif self.tail:
            chunk, self.tail = self.tail, b""
        else:
            raise StopAsyncIteration
        self.sent += len(chunk)
        return chunk


def assert_refused_unread(r: httpx.Response, body: Streamed, config: settings.Settings) -> None:
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert "text/html" in r.headers["content-type"] and "Too large" in r.text
    assert r.headers["content-security-policy"]  # the dashboard's own page, headers and all
    assert body.sent <= config.max_body_bytes + CHUNK, body.sent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_18_mib_login_form_is_refused_unread(
    dash: httpx.AsyncClient, config: settings.Settings, declared: bool
) -> None:
    token = csrf_from((await dash.get("/login")).text)
    body = Streamed(f"csrf_token={token}&email=a%40example.com&password=".encode(), 18 * MiB)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if declared:
        headers["Content-Length"] = str(18 * MiB)
    r = await dash.post("/login", content=body, headers=headers)
    assert_refused_unread(r, body, config)
    if declared:
        assert body.sent == 0  # refused on the header alone


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_40_mib_refund_post_is_refused_unread(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
    declared: bool,
) -> None:
    pay_id = await _paid(client, conn, owner, config)
    path = f"/dashboard/transactions/{pay_id}"
    token = await page_csrf(logged_in, path)
    boundary = "attack" + os.urandom(8).hex()

    def field(name: str, value: str) -> str:
        return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'

    head = (
        field("csrf_token", token)
        + field("amount", "1.00")
        + f'--{boundary}\r\nContent-Disposition: form-data; name="reason"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = Streamed(head, 40 * MiB, f"\r\n--{boundary}--\r\n".encode())
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if declared:
        headers["Content-Length"] = str(40 * MiB)
    r = await logged_in.post(path + "/refunds", content=body, headers=headers)
    assert_refused_unread(r, body, config)
    assert await _refund_count(conn, pay_id) == 0


HOSTILE_AMOUNTS = [
    "1e100",
    "NaN",
    "sNaN",
    "-0",
    "1e-5",
    "1E+2",
    "Infinity",
    "-Infinity",
    "\u0661\u0660\u0660",  # 100 in Arabic-Indic digits
    "\uff11\uff10\uff10",  # 100 in fullwidth digits
    "\U0001d7cf\U0001d7ce\U0001d7ce",  # 100 in mathematical bold digits
    "½",
    "1_000",
    "0x10",
    "9" * 5000,
    "1" + "0" * 30,
    "0.001",
    "-5",
    "10\x00",
    "1.2.3",
    "",
    " ",
    "₹",
    ".",
]


@pytest.mark.parametrize("text", HOSTILE_AMOUNTS)
def test_hostile_amount_text_is_an_amount_error(text: str) -> None:
    with pytest.raises(web.AmountError):
        web.parse_rupees(text)


async def test_hostile_refund_amounts_get_the_form_error_never_a_500(
    logged_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    pay_id = await _paid(client, conn, owner, config)
    path = f"/dashboard/transactions/{pay_id}"
    token = await page_csrf(logged_in, path)
    wrong: dict[str, int] = {}
    for text in HOSTILE_AMOUNTS:
        r = await logged_in.post(path + "/refunds", data={"csrf_token": token, "amount": text})
        if r.status_code != 400 or 'data-test-id="refund-error"' not in r.text:
            wrong[text[:12]] = r.status_code
    assert wrong == {}
    assert await _refund_count(conn, pay_id) == 0


async def _paid(
    client: httpx.AsyncClient,
    conn: db.Conn,
    owner: merchants.NewMerchant,
    config: settings.Settings,
) -> str:
    auth = {"X-Api-Key": owner.api_key, "X-Api-Secret": owner.api_secret}
    p = await new_payment(client, auth, amount=50000)
    await payments.process(conn, p["id"], config)
    return str(p["id"])


async def _refund_count(conn: db.Conn, pay_id: str) -> int:
    row = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM refunds WHERE payment_id = %(p)s", {"p": pay_id}
    )
    assert row is not None
    return int(row["n"])
