"""Attacks on webhook egress and on the merchants' verifier (issue 11: High 1, High 3, Medium
"replayable legacy signature"). Each test performs the attack against real local servers, the
real test database and the production HTTP client; only the outside world is stubbed: DNS
answers (`urls.resolve`) and, where a test must not reach the Internet, the socket opened to a
public address (`urls.connect`)."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import threading
import time
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest

from gateway import db, errors, events, merchants, settings
from gateway.webhooks import attempts, signing, urls, verify
from tests import helpers
from tests.conftest import assert_error

SECRET = merchants.new_webhook_secret()
PUBLIC = "93.184.216.34"
PUBLIC_2 = "93.184.216.35"
INTERNAL_TEXT = b"internal-secret: db password is hunter2"
# 64 MiB of zeros, gzipped twice: a few hundred bytes on the wire.
BOMB_SIZE = 64 * 1024 * 1024


def _double_gzip_bomb() -> bytes:
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = [inner.compress(block) for _ in range(BOMB_SIZE // len(block))]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), compresslevel=9)


BOMB = _double_gzip_bomb()


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class LocalServer:
    """An HTTP server on 127.0.0.1 standing for an internal service or a hostile receiver:
    /internal answers secrets, /bomb a double-gzip bomb, /nul a 500 with NUL bytes, anything
    else 200. It records every request it receives."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = self.path.split("?")[0]
                server.seen.append(Seen(path, {k.lower(): v for k, v in self.headers.items()}))
                if path == "/internal":
                    self._reply(200, INTERNAL_TEXT)
                elif path == "/bomb":
                    self._reply(200, BOMB, {"Content-Encoding": "gzip, gzip"})
                elif path == "/nul":
                    self._reply(500, b"bad\x00answer\x00")
                else:
                    self._reply(200, b"ok")

            def _reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with attempts.client() as c:
        yield c


@pytest.fixture
async def pool(database: str) -> AsyncIterator[db.Pool]:
    p = db.open_pool(database, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


@pytest.fixture
def strict(config: settings.Settings) -> settings.Settings:
    """Production policy: private addresses refused."""
    return config.model_copy(update={"test_mode": False, "allow_private_webhook_urls": False})


class Dns:
    """Stands in for the Internet's DNS and records every name it is asked. A Unicode name is
    first encoded the way the system's getaddrinfo does it (Python's IDNA 2003 codec)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        name = host.encode("idna").decode("ascii")
        queue = self.answers.get(name, [[]])
        # Answers are consumed in order, the last one sticks: [[public], [127.0.0.1]] is a
        # rebinding name.
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _claim(url: str) -> attempts.Claim:
    payload = signing.payload_bytes("webhook.test", int(time.time()), {"message": "hi"})
    return attempts.Claim(
        log_id=uuid.uuid4(),
        generation=0,
        attempt=0,
        event_id="evt_" + os.urandom(8).hex(),
        payload=payload,
        url=url,
        secret=SECRET,
        previous_secret=None,
        lease=dt.datetime.now(dt.UTC),
    )


async def _log_for(conn: db.Conn, merchant: merchants.Merchant, url: str) -> uuid.UUID:
    await merchants.set_webhook_url(conn, merchant.id, url)
    event = await events.send_test(conn, merchant.id, url)
    assert event.webhook_log_id is not None
    return event.webhook_log_id


async def _retire(conn: db.Conn, merchant: merchants.Merchant) -> None:
    """Make this test's queued delivery jobs stale, so a worker started later by another test
    never sends them to a port some other server may own by then."""
    await conn.execute(
        "UPDATE webhook_logs SET status = 'failed' WHERE merchant_id = %(m)s", {"m": merchant.id}
    )
    await merchants.set_webhook_url(conn, merchant.id, None)


async def _row(conn: db.Conn, log_id: uuid.UUID) -> dict[str, Any]:
    row = await db.fetch_one(
        conn,
        "SELECT status, attempts, response_code, response_body, next_retry_at"
        " FROM webhook_logs WHERE id = %(id)s",
        {"id": log_id},
    )
    assert row is not None
    return row


def _category(body: str | None) -> str:
    assert body is not None
    category = body.split(":", 1)[0]
    assert category in attempts.FAILURES, body
    return category


# High 1: SSRF guard bypass ----------------------------------------------------------------------


async def test_dns_rebinding_cannot_reach_an_internal_server(
    monkeypatch: pytest.MonkeyPatch,
    server: LocalServer,
    http: httpx.AsyncClient,
    pool: db.Pool,
    conn: db.Conn,
    merchant: merchants.Merchant,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    strict: settings.Settings,
) -> None:
    # The attacker's name answers a public address to the first lookup and 127.0.0.1 after.
    # ("localhost": so that a second lookup made by anything other than our stub, the system
    # resolver httpx would use, also lands on 127.0.0.1, as the attacker's DNS would.)
    dns = Dns({"localhost": [[PUBLIC], ["127.0.0.1"]]})
    monkeypatch.setattr(urls, "resolve", dns)
    opened: list[tuple[str, int]] = []
    sockets = httpcore.AnyIOBackend()
    with LocalServer() as gone:
        closed_port = gone.port

    async def internet(
        address: str, port: int, connect_timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        opened.append((address, port))
        if address == PUBLIC:
            # No Internet in tests: the public host is one that refuses, a closed local port.
            address, port = "127.0.0.1", closed_port
        return await sockets.connect_tcp(address, port, timeout=connect_timeout)

    monkeypatch.setattr(urls, "connect", internet, raising=False)
    log_id = await _log_for(conn, merchant, f"http://localhost:{server.port}/internal")
    try:
        status = await attempts.deliver(pool, http, log_id, 0, 0, strict)
    finally:
        await _retire(conn, merchant)

    assert server.seen == [], "the internal server was reached"
    assert dns.asked == ["localhost"], "the name was resolved more than once"
    assert opened == [(PUBLIC, server.port)]
    assert status == "pending"
    row = await _row(conn, log_id)
    assert row["response_code"] is None
    assert _category(row["response_body"]) == "connection_refused"
    detail = (await client.get(f"/api/v1/webhooks/{log_id}", headers=auth)).json()
    assert "internal-secret" not in str(detail)


async def test_idna_differential_cannot_reach_an_internal_address(
    monkeypatch: pytest.MonkeyPatch, pool: db.Pool
) -> None:
    # Two registered names: IDNA 2003 maps straße to strasse (public), IDNA 2008 / UTS-46
    # keeps it as xn--strae-oqa (pointing inside). The check and the connection must agree.
    dns = Dns({"strasse.example": [[PUBLIC]], "xn--strae-oqa.example": [["127.0.0.1"]]})
    monkeypatch.setattr(urls, "resolve", dns)
    reached: list[httpx.Request] = []

    def internal(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(200, content=INTERNAL_TEXT)

    async with httpx.AsyncClient(transport=httpx.MockTransport(internal)) as mock:
        outcome = await attempts.send(
            mock, _claim("http://straße.example/hook"), allow_private=False
        )
    assert reached == [], "the name that points inside was connected to"
    assert not outcome.ok and _category(outcome.body) == "forbidden_address"
    assert dns.asked == ["xn--strae-oqa.example"]


async def test_idna_name_is_resolved_and_sent_as_the_same_a_label(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, http: httpx.AsyncClient
) -> None:
    dns = Dns({"xn--strae-oqa.example": [["127.0.0.1"]], "strasse.example": [["127.0.0.2"]]})
    monkeypatch.setattr(urls, "resolve", dns)
    outcome = await attempts.send(
        http, _claim(f"http://Straße.example:{server.port}/ok"), allow_private=True
    )
    assert outcome.ok, outcome
    assert dns.asked == ["xn--strae-oqa.example"]
    assert [s.headers["host"] for s in server.seen] == [f"xn--strae-oqa.example:{server.port}"]


async def test_saving_an_idna_url_checks_the_name_that_will_be_connected(
    monkeypatch: pytest.MonkeyPatch, strict: settings.Settings, auth: dict[str, str]
) -> None:
    monkeypatch.setattr(
        urls,
        "resolve",
        Dns({"strasse.example": [[PUBLIC]], "xn--strae-oqa.example": [["10.0.0.7"]]}),
    )
    async with helpers.app_client(strict) as live:
        r = await live.put(
            "/api/v1/webhooks/config", json={"url": "https://straße.example/hook"}, headers=auth
        )
    assert_error(r, 400, "BAD_REQUEST_ERROR")


@pytest.mark.parametrize(
    "address",
    [
        "168.63.129.16",  # Azure wireserver / metadata: a public address
        "192.0.0.8",  # IETF protocol assignments (192.0.0.0/24)
        "192.0.0.192",  # Oracle Cloud metadata, same block
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[64:ff9b:1::a00:1]",  # local-use NAT64
        "192.88.99.1",  # deprecated 6to4 relay anycast
        "[3fff::1]",  # documentation (2024)
        "[fec0::1]",  # deprecated site-local
        "100.64.0.1",  # carrier-grade NAT
        "[::ffff:10.0.0.1]",  # IPv4-mapped private
    ],
)
async def test_special_purpose_addresses_are_refused_when_saved(
    strict: settings.Settings, auth: dict[str, str], address: str
) -> None:
    async with helpers.app_client(strict) as live:
        r = await live.put(
            "/api/v1/webhooks/config", json={"url": f"http://{address}/hook"}, headers=auth
        )
    assert_error(r, 400, "BAD_REQUEST_ERROR")


@pytest.mark.parametrize("address", ["2002:a00:1::1", "168.63.129.16", "192.0.0.8"])
async def test_a_name_resolving_to_a_special_purpose_address_is_not_delivered_to(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setattr(urls, "resolve", Dns({"hooks.example": [[address]]}))
    reached: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        outcome = await attempts.send(
            mock, _claim("https://hooks.example/hook"), allow_private=False
        )
    assert reached == []
    assert _category(outcome.body) == "forbidden_address"


async def test_cloud_metadata_is_refused_even_where_private_urls_are_allowed(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    with pytest.raises(errors.BadRequest):
        await urls.check("http://169.254.169.254/latest/meta-data/", allow_private=True)
    monkeypatch.setattr(urls, "resolve", Dns({"meta.example": [["169.254.169.254"]]}))
    outcome = await attempts.send(http, _claim("http://meta.example/"), allow_private=True)
    assert _category(outcome.body) == "forbidden_address"


async def test_the_webhook_client_opens_no_connection_it_was_not_pinned_to(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    # Anything sent through the client without going through urls.pin (a future code path, a
    # redirect's new origin) must not connect at all.
    with pytest.raises(httpx.ConnectError):
        await http.post(f"http://127.0.0.1:{server.port}/internal", content=b"{}")
    assert server.seen == []


async def test_transport_errors_are_stored_as_categories_not_exception_text(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    with LocalServer() as closed:
        port = closed.port
    refused = await attempts.send(http, _claim(f"http://127.0.0.1:{port}/"), allow_private=True)
    assert refused.body == "connection_refused: the receiver refused the connection"
    # TLS to a plain HTTP server: the handshake fails.
    tls = await attempts.send(http, _claim(f"https://127.0.0.1:{server.port}/"), allow_private=True)
    assert tls.body == "tls: the TLS handshake or certificate check failed"


# High 3: hostile answers ------------------------------------------------------------------------


async def test_a_double_gzip_bomb_answer_is_never_decompressed(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    assert len(BOMB) < 4096
    claim = _claim(f"http://127.0.0.1:{server.port}/bomb")
    tracemalloc.start()
    try:
        outcome = await attempts.send(http, claim, allow_private=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The inflated answer is 64 MiB; reading a capped head of raw bytes needs a few hundred KB.
    assert peak < 4 * 1024 * 1024, f"one attempt allocated {peak / 2**20:.0f} MiB"
    assert outcome.ok and outcome.body is not None
    assert len(outcome.body) <= 2048
    assert server.seen[0].headers["accept-encoding"] == "identity"


async def test_an_answer_with_nul_bytes_is_recorded_and_retried(
    server: LocalServer,
    http: httpx.AsyncClient,
    pool: db.Pool,
    conn: db.Conn,
    merchant: merchants.Merchant,
    config: settings.Settings,
) -> None:
    log_id = await _log_for(conn, merchant, f"http://127.0.0.1:{server.port}/nul")
    try:
        status = await attempts.deliver(pool, http, log_id, 0, 0, config)
        row = await _row(conn, log_id)
        retry = await db.fetch_one(
            conn,
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'deliver_webhook'"
            " AND args->>'log_id' = %(id)s AND (args->>'attempt')::int = 1",
            {"id": str(log_id)},
        )
    finally:
        await _retire(conn, merchant)
    assert status == "pending"
    assert row["attempts"] == 1 and row["status"] == "pending"
    assert row["response_code"] == 500 and row["next_retry_at"] is not None
    assert row["response_body"] == "bad\ufffdanswer\ufffd"
    assert retry is not None and retry["n"] == 1


# Medium: replayable legacy signature ------------------------------------------------------------

MONTH_AGO = int(time.time()) - 30 * 86400


def _captured() -> tuple[bytes, dict[str, str]]:
    """A webhook an attacker recorded 30 days ago, headers exactly as we sent them."""
    body = signing.payload_bytes("payment.success", MONTH_AGO, {"payment": {"id": "pay_1"}})
    return body, signing.headers("evt_old", MONTH_AGO, body, SECRET)


def test_a_month_old_webhook_replayed_with_only_the_legacy_header_is_refused() -> None:
    body, headers = _captured()
    legacy_only = {"X-Webhook-Signature": headers["X-Webhook-Signature"]}
    with pytest.raises(verify.WebhookVerificationError) as caught:
        verify.verify(body, legacy_only, SECRET)
    assert caught.value.reason == "missing_signature"
    assert "allow_legacy" in str(caught.value)
    # A sender without the Standard Webhooks headers can still be verified, on request.
    assert verify.verify(body, legacy_only, SECRET, allow_legacy=True)["event"] == (
        "payment.success"
    )


def test_a_month_old_webhook_replayed_with_its_standard_headers_is_refused() -> None:
    body, headers = _captured()
    for allow_legacy in (False, True):
        with pytest.raises(verify.WebhookVerificationError) as caught:
            verify.verify(body, headers, SECRET, allow_legacy=allow_legacy)
        assert caught.value.reason == "stale_timestamp"
