"""Worker SIGKILL in the middle of payment processing and webhook delivery; Redis unreachable
while payments, idempotent retries and refunds are under load."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import db, payments, settings
from tests import processes
from tests.helpers import (
    UNREACHABLE_REDIS,
    app_client,
    auth_of,
    new_merchant,
    new_order,
    wait_until,
)
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e


async def test_worker_sigkill_mid_pipeline_every_payment_final_every_event_delivered(
    client: httpx.AsyncClient, conn: db.Conn
) -> None:
    env = {
        "GATEWAY_STALLED_WORKER_SECONDS": "3",
        "GATEWAY_WORKER_HEARTBEAT_INTERVAL": "1",
        "TEST_PROCESSING_DELAY": "500",
    }
    with Receiver() as receiver:
        m = await new_merchant(conn, name="Crash", webhook_url=receiver.url + "/gate")
        auth = auth_of(m)
        ids = []
        for _ in range(60):
            order_id = await new_order(client, auth, 1000)
            r = await client.post(
                "/api/v1/payments",
                json={"order_id": order_id, "method": "upi", "vpa": "a@bank"},
                headers=auth,
            )
            ids.append(r.json()["id"])
        first = processes.spawn_worker(env)
        try:
            await wait_until(
                lambda: asyncio.sleep(0, len(receiver.on("/gate")) >= 60), 60, step=0.05
            )
            # Deliveries now wait at the receiver: the kill lands while they are in flight.
            receiver.close_gate()
            await wait_until(lambda: asyncio.sleep(0, receiver.holding() >= 1), 30, step=0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        at_kill = {r.headers["webhook-id"] for r in receiver.on("/gate")}
        doing = await db.fetch_one(
            conn, "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'doing'"
        )
        # The kill interrupted work: jobs left `doing` by the dead worker, events undelivered.
        assert doing is not None and doing["n"] >= 1
        assert len(at_kill) < 180
        receiver.open_gate()
        with processes.worker(env):

            async def settled() -> bool:
                rows = await db.fetch_all(
                    conn, "SELECT status FROM payments WHERE id = ANY(%(ids)s)", {"ids": ids}
                )
                committed = await db.fetch_all(
                    conn, "SELECT id FROM events WHERE merchant_id = %(m)s", {"m": m.id}
                )
                seen = {r.headers["webhook-id"] for r in receiver.on("/gate")}
                # ... and every job finished: the dead worker's too, once re-queued.
                unfinished = await db.fetch_one(
                    conn,
                    "SELECT count(*) AS n FROM procrastinate_jobs"
                    " WHERE status IN ('todo', 'doing') AND queue_name <> 'maintenance'",
                )
                return (
                    {r["status"] for r in rows} == {"success"}
                    and {e["id"] for e in committed} <= seen
                    and unfinished is not None
                    and unfinished["n"] == 0
                )

            await wait_until(settled, 90, step=0.5, what="every payment final and delivered")
    committed = await db.fetch_all(
        conn, "SELECT id FROM events WHERE merchant_id = %(m)s", {"m": m.id}
    )
    assert len(committed) == 180
    delivered = [r.headers["webhook-id"] for r in receiver.on("/gate")]
    assert {e["id"] for e in committed} <= set(delivered)
    success_events = Counter(
        json.loads(r.body)["data"]["payment"]["id"]
        for r in receiver.on("/gate")
        if json.loads(r.body)["event"] == "payment.success"
    )
    assert set(success_events) == set(ids)
    duplicates = sum(n - 1 for n in Counter(delivered).values())
    out = Path(__file__).resolve().parents[2] / "test-output"
    out.mkdir(exist_ok=True)
    (out / "worker-sigkill-pipeline.txt").write_text(
        f"60 payments, 180 events, {len(at_kill)} received and {doing['n']} jobs in progress at"
        f" the kill, {len(delivered)} deliveries, {duplicates} duplicates\n"
    )


@pytest.fixture
async def no_redis(
    config: settings.Settings, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on this test's database with nothing listening at its Redis URL."""
    down = config.model_copy(update={"redis_url": UNREACHABLE_REDIS, "database_url": database_url})
    async with app_client(down) as c:
        yield c


async def test_redis_unreachable_under_load_payments_idempotency_and_refunds_stay_correct(
    no_redis: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    merchant: Any,
) -> None:
    client = no_redis
    orders = [await new_order(client, auth, 10_000) for _ in range(10)]
    keys = [str(uuid.uuid4()) for _ in orders]

    async def pay(order_id: str, key: str) -> httpx.Response:
        return await client.post(
            "/api/v1/payments",
            json={"order_id": order_id, "method": "upi", "vpa": "a@bank"},
            headers={**auth, "Idempotency-Key": key},
        )

    # Every payment requested three times at once under the same key.
    responses = await asyncio.gather(
        *(pay(o, k) for o, k in zip(orders, keys, strict=True) for _ in range(3))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    count = await db.fetch_one(
        conn, "SELECT count(*) AS n FROM payments WHERE merchant_id = %(m)s", {"m": merchant.id}
    )
    assert count is not None and count["n"] == 10
    jobs = await db.fetch_one(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs j"
        " JOIN payments p ON p.id = j.args->>'payment_id'"
        " WHERE p.merchant_id = %(m)s AND j.task_name = 'process_payment'",
        {"m": merchant.id},
    )
    assert jobs is not None and jobs["n"] == 10
    replay = await pay(orders[0], keys[0])
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"

    payment_id = replay.json()["id"]
    await payments.process(conn, payment_id, config)
    refunds = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/payments/{payment_id}/refunds", json={"amount": 3000}, headers=auth
            )
            for _ in range(8)
        )
    )
    accepted = [r for r in refunds if r.status_code == 201]
    assert len(accepted) == 3
    assert all(
        r.json()["error"]["description"] == "Refund amount exceeds available amount"
        for r in refunds
        if r.status_code != 201
    )
    got = (await client.get(f"/api/v1/payments/{payment_id}", headers=auth)).json()
    assert got["amount_refunded"] == 9000


async def test_health_stays_200_and_says_redis_disconnected_without_redis(
    no_redis: httpx.AsyncClient,
) -> None:
    r = await no_redis.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy" and body["database"] == "connected"
    assert body["redis"] == "disconnected"
