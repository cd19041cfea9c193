"""Browser-test fixtures: the real API, checkout app and worker as processes on free ports, a
"merchant" page on a different origin, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests import conftest, processes, tools

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = processes.ROOT / "test-output"
SEEDED_AUTH = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}

MERCHANT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Merchant shop</title>
<script src="{checkout}/checkout.js"></script></head>
<body style="height:3000px"><h1>Merchant shop</h1><button id="buy">Buy</button>
<script>window.events = [];</script></body></html>
"""


@dataclass(frozen=True)
class Stack:
    api: str
    checkout: str
    merchant: str
    # The processes' environment beyond the run's (e.g. their own DATABASE_URL).
    env: dict[str, str] = field(default_factory=dict)

    def new_order(self, amount: int = 50000, auth: dict[str, str] = SEEDED_AUTH) -> str:
        r = httpx.post(
            self.api + "/api/v1/orders", json={"amount": amount}, headers=auth, timeout=10
        )
        assert r.status_code == 201, r.text
        order_id: str = r.json()["id"]
        return order_id

    def new_merchant(self) -> dict[str, str]:
        """A fresh merchant's API credentials, made the supported way (`gateway merchants
        create`), for tests that change a merchant's settings: the seeded one stays as it is."""
        suffix = os.urandom(6).hex()
        command = [sys.executable, "-m", "gateway.cli", "merchants", "create"]
        out = subprocess.run(
            [*command, "--name", f"UI {suffix}", "--email", f"ui{suffix}@example.com"],
            cwd=processes.ROOT,
            env=processes._env(self.env),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        printed = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return {
            "X-Api-Key": printed["api_key"].strip(),
            "X-Api-Secret": printed["api_secret"].strip(),
        }

    def allow_origins(self, auth: dict[str, str], origins: list[str]) -> None:
        r = httpx.put(
            self.api + "/api/v1/checkout/config",
            json={"allowed_origins": origins},
            headers=auth,
            timeout=10,
        )
        assert r.status_code == 200, r.text

    def payment(self, payment_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.api}/api/v1/payments/{payment_id}", headers=SEEDED_AUTH, timeout=10)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Skipped before any server starts when Chromium is missing; in CI the `browser` fixture
    # fails instead (tools.require_chromium).
    reason = tools.chromium_missing()
    if reason is None or tools.in_ci():
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "ui" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def _checkout_server(port: int, env: dict[str, str]) -> Iterator[str]:
    with processes.web_app(processes.CHECKOUT_FACTORY, env, port=port) as base:
        yield base


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _merchant_site(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # "localhost" rather than 127.0.0.1: a different host as well as a different port.
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _running_stack(site: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """API, checkout app and worker processes, and a merchant page (in `site`) that loads
    checkout.js from that checkout app."""
    checkout_port = processes.free_port()
    checkout_url = f"http://127.0.0.1:{checkout_port}"
    env = {
        "GATEWAY_CHECKOUT_URL": checkout_url,
        "TEST_PROCESSING_DELAY": "1000",
        **(extra_env or {}),
    }
    with processes.api_server(env) as api:
        env["GATEWAY_PUBLIC_API_URL"] = api
        (site / "shop.html").write_text(MERCHANT_PAGE.format(checkout=checkout_url))
        with (
            _checkout_server(checkout_port, env) as checkout,
            processes.worker(env),
            _merchant_site(site) as merchant,
        ):
            yield Stack(api=api, checkout=checkout, merchant=merchant, env=extra_env or {})


@pytest.fixture(scope="session")
def stack(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """On a database of its own (a template copy): its worker runs the browser tests' jobs, not
    the backlog that the other tests left in the session's."""
    with (
        conftest.template_copy() as url,
        _running_stack(tmp_path_factory.mktemp("merchant"), {"DATABASE_URL": url}) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def declining_stack(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second stack whose bank declines every payment (TEST_PAYMENT_SUCCESS=false), on a
    database of its own: a worker sharing the session's job queue would take the session's
    payments too, and which worker runs a job is a race."""
    with conftest.template_copy() as url:
        env = {"DATABASE_URL": url, "TEST_PAYMENT_SUCCESS": "false"}
        with _running_stack(tmp_path_factory.mktemp("declining-merchant"), env) as running:
            yield running


# Module scope, not session: while sync Playwright runs, its event loop counts as running in
# this thread, and any async test collected after tests/ui would fail with "Cannot run the event
# loop while another loop is running".
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = tools.require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
