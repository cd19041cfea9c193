"""The database goes away and comes back; its connections are killed under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from gateway import db, settings
from tests import processes
from tests.conftest import assert_error
from tests.faults.proxy import Proxy
from tests.helpers import app_client, new_payment, wait_until

pytestmark = pytest.mark.e2e


def _via(proxy: Proxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(
        (parts.scheme, f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}", parts.path, "", "")
    )


@pytest.fixture
async def proxied(
    config: settings.Settings, database_url: str
) -> AsyncIterator[tuple[Proxy, httpx.AsyncClient]]:
    parts = urlsplit(database_url)
    with Proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        cfg = config.model_copy(
            update={"database_url": _via(proxy, database_url), "db_pool_timeout": 1.0}
        )
        async with app_client(cfg) as client:
            yield proxy, client


async def test_database_outage_answers_503_and_recovers_by_itself(
    proxied: tuple[Proxy, httpx.AsyncClient], auth: dict[str, str], conn: db.Conn, merchant: Any
) -> None:
    proxy, client = proxied
    ok = await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)
    assert ok.status_code == 201
    proxy.down()
    for _ in range(3):
        r = await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)
        assert_error(r, 503, "SERVICE_UNAVAILABLE")
        assert r.headers["X-Request-Id"]
    health = await client.get("/health")
    assert health.status_code == 503 and health.json()["database"] == "disconnected"
    proxy.up()

    async def created() -> bool:
        r = await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)
        if r.status_code != 201:
            assert_error(r, 503, "SERVICE_UNAVAILABLE")
        return r.status_code == 201

    await wait_until(created, timeout=15, what="an order created once the database is back")

    async def healthy() -> bool:
        return bool((await client.get("/health")).json()["database"] == "connected")

    # /health answers from a snapshot at most health_max_age_seconds old.
    await wait_until(healthy, timeout=15, what="/health seeing the database back")
    row = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM orders WHERE merchant_id = %(m)s", {"m": merchant.id}
    )
    assert row is not None and row["n"] == 2  # the 503s wrote nothing


# libpq names every connection of the worker process after this (PGAPPNAME), so the test can
# tell the worker's backends from the API's and its own in pg_stat_activity.
WORKER_APP = "fault-test-worker"


async def _worker_backends(conn: db.Conn) -> set[int]:
    rows = await db.fetch_all(
        conn,
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %(app)s",
        {"app": WORKER_APP},
    )
    return {r["pid"] for r in rows}


async def test_killed_connections_under_load_give_201_or_503_never_500_and_the_worker_recovers(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, merchant: Any
) -> None:
    with processes.worker({"PGAPPNAME": WORKER_APP}) as worker:
        # The worker is connected (its pool and its LISTEN connection are open) before anything
        # is killed: otherwise "the worker recovers" would only show that it started late.
        before = await wait_until(lambda: _worker_backends(conn), timeout=30)
        statuses: Counter[int] = Counter()
        created: list[str] = []
        killed: list[db.Row] = []

        async def load() -> None:
            for _ in range(40):
                r = await client.post("/api/v1/orders", json={"amount": 1000}, headers=auth)
                statuses[r.status_code] += 1
                if r.status_code == 201:
                    created.append(r.json()["id"])
                else:
                    assert_error(r, 503, "SERVICE_UNAVAILABLE")

        async def killer() -> None:
            for _ in range(4):
                await asyncio.sleep(0.05)
                killed.extend(
                    await db.fetch_all(
                        conn,
                        "SELECT pid, application_name, pg_terminate_backend(pid) AS done"
                        " FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                )

        await asyncio.gather(load(), load(), load(), killer())
        assert set(statuses) <= {201, 503} and statuses[201] > 0
        # The worker's connections were among those terminated.
        worker_killed = {k["pid"] for k in killed if k["application_name"] == WORKER_APP}
        assert worker_killed >= before and all(k["done"] for k in killed), killed
        row = await db.fetch_one(
            conn,
            "SELECT count(*) AS n FROM orders WHERE merchant_id = %(m)s AND id = ANY(%(ids)s)",
            {"m": merchant.id, "ids": created},
        )
        assert row is not None and row["n"] == len(created)
        # The worker lost its connections too; it must still process a new payment, on new ones.
        p = await new_payment(client, auth)

        async def processed() -> bool:
            # The same process must carry on. (procrastinate stops a worker whose side task,
            # the periodic deferrer or the heartbeat, hits a terminated connection; the
            # launcher, gateway/jobs/__main__.py, then starts it again in the same process.)
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
            r = await client.get(f"/api/v1/payments/{p['id']}", headers=auth)
            return bool(r.json()["status"] != "pending")

        await wait_until(processed, timeout=30)
        got = (await client.get(f"/api/v1/payments/{p['id']}", headers=auth)).json()
        assert got["status"] == "success"
        assert worker.poll() is None
        assert not (await _worker_backends(conn)) & worker_killed
