"""Processing on the job table's clock, atomic creation, capture, and card data hygiene."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
from typing import Any

import httpx
import pytest

from gateway import db, instruments, payments, settings
from tests import processes, tools
from tests.conftest import DATABASE_URL, assert_error
from tests.helpers import VISA, card_body, new_order, new_payment, wait_until


async def _events(conn: db.Conn, resource_id: str) -> list[str]:
    rows = await db.fetch_all(
        conn,
        "SELECT type FROM events WHERE resource_id = %(r)s ORDER BY created_at",
        {"r": resource_id},
    )
    return [r["type"] for r in rows]


async def _jobs(conn: db.Conn, payment_id: str) -> list[db.Row]:
    return await db.fetch_all(
        conn,
        "SELECT id, task_name, queue_name, scheduled_at, status::text AS status"
        " FROM procrastinate_jobs WHERE args->>'payment_id' = %(p)s",
        {"p": payment_id},
    )


async def test_payment_row_events_and_job_commit_together(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await new_payment(client, auth)
    assert await _events(conn, p["id"]) == ["payment.created", "payment.pending"]
    jobs = await _jobs(conn, p["id"])
    assert len(jobs) == 1 and jobs[0]["task_name"] == "process_payment"
    row = await db.fetch_one(
        conn, "SELECT created_at FROM payments WHERE id = %(id)s", {"id": p["id"]}
    )
    assert row is not None
    expected = row["created_at"] + dt.timedelta(milliseconds=config.test_processing_delay)
    assert jobs[0]["scheduled_at"] == expected


async def test_a_transaction_failing_after_the_insert_leaves_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    merchant: Any,
    config: settings.Settings,
) -> None:
    order_id = await new_order(client, auth)
    instrument = instruments.Instrument("upi", vpa="a@bank")
    created: list[payments.Payment] = []
    with pytest.raises(RuntimeError, match="boom"):
        async with conn.transaction():
            created.append(await payments.insert(conn, merchant.id, order_id, instrument, config))
            raise RuntimeError("boom")
    pid = created[0].id
    assert await db.fetch_one(conn, "SELECT 1 FROM payments WHERE id = %(id)s", {"id": pid}) is None
    assert await _events(conn, pid) == []
    assert await _jobs(conn, pid) == []


async def test_processing_twice_changes_nothing_the_second_time(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await new_payment(client, auth)
    first = await payments.process(conn, p["id"], config)
    assert first is not None and first.status == "success"
    assert await payments.process(conn, p["id"], config) is None
    assert (await _events(conn, p["id"])).count("payment.success") == 1
    order = (await client.get(f"/api/v1/orders/{p['order_id']}", headers=auth)).json()
    assert order["status"] == "paid"


async def test_concurrent_processing_emits_one_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], database: str, config: settings.Settings
) -> None:
    import psycopg
    from psycopg.rows import dict_row

    p = await new_payment(client, auth)

    async def run() -> payments.Payment | None:
        async with await psycopg.AsyncConnection.connect(
            database, autocommit=True, row_factory=dict_row
        ) as c:
            return await payments.process(c, p["id"], config)

    async with (
        await psycopg.AsyncConnection.connect(database, autocommit=True, row_factory=dict_row) as c,
        await psycopg.AsyncConnection.connect(database, autocommit=True) as holder,
    ):
        # All five are inside `process` at once: they queue on the payment row this
        # transaction holds, and only then is it released.
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM payments WHERE id = %s FOR UPDATE", (p["id"],))
            runs = [asyncio.create_task(run()) for _ in range(5)]

            async def all_waiting() -> bool:
                # The first waits for the holder, the others queue behind the first.
                row = await db.fetch_one(
                    c,
                    "SELECT count(*) AS n FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND query LIKE '%%FROM payments%%FOR UPDATE%%'",
                )
                return row is not None and row["n"] == 5

            await wait_until(all_waiting)
        results = await asyncio.gather(*runs)
        assert sum(r is not None for r in results) == 1
        assert (await _events(c, p["id"])).count("payment.success") == 1


async def test_attempts_on_one_order_processed_at_once_charge_it_once(
    client: httpx.AsyncClient, auth: dict[str, str], database: str, config: settings.Settings
) -> None:
    """Several pending attempts on one order, all approved by the bank and processed at the
    same moment on separate connections: the order's row lock lets exactly one succeed."""
    import psycopg
    from psycopg.rows import dict_row

    order_id = await new_order(client, auth)
    body = {"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    attempts = [
        (await client.post("/api/v1/payments", json=body, headers=auth)).json()["id"]
        for _ in range(6)
    ]
    connections = [
        await psycopg.AsyncConnection.connect(database, autocommit=True, row_factory=dict_row)
        for _ in attempts
    ]
    try:
        results = await asyncio.gather(
            *(
                payments.process(c, pid, config)
                for c, pid in zip(connections, attempts, strict=True)
            )
        )
    finally:
        for c in connections:
            await c.close()
    outcomes = sorted((r.status, r.error_description) for r in results if r is not None)
    assert outcomes == [("failed", "Order already paid")] * 5 + [("success", None)]
    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert order["status"] == "paid"


async def test_declined_payment_stores_payment_failed(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    failing = config.model_copy(update={"test_payment_success": False})
    p = await new_payment(client, auth)
    result = await payments.process(conn, p["id"], failing)
    assert result is not None and result.status == "failed"
    got = (await client.get(f"/api/v1/payments/{p['id']}", headers=auth)).json()
    assert got["error_code"] == "PAYMENT_FAILED" and got["error_description"]
    assert (await _events(conn, p["id"]))[-1] == "payment.failed"
    order = (await client.get(f"/api/v1/orders/{p['order_id']}", headers=auth)).json()
    assert order["status"] == "created"


async def test_paid_order_takes_no_new_payment_and_a_late_success_is_not_a_double_charge(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    order_id = await new_order(client, auth)
    body = {"order_id": order_id, "method": "upi", "vpa": "a@bank"}
    first = (await client.post("/api/v1/payments", json=body, headers=auth)).json()
    second = (await client.post("/api/v1/payments", json=body, headers=auth)).json()
    assert (await payments.process(conn, first["id"], config)) is not None
    r = await client.post("/api/v1/payments", json=body, headers=auth)
    assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == "Order already paid"
    late = await payments.process(conn, second["id"], config)
    assert (
        late is not None
        and late.status == "failed"
        and late.error_description == "Order already paid"
    )


async def test_capture_only_once_and_only_for_the_full_amount(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await new_payment(client, auth, amount=25000)
    await payments.process(conn, p["id"], config)
    url = f"/api/v1/payments/{p['id']}/capture"
    assert_error(
        await client.post(url, json={"amount": 100}, headers=auth), 400, "BAD_REQUEST_ERROR"
    )
    r = await client.post(url, json={"amount": 25000}, headers=auth)
    assert r.status_code == 200 and r.json()["captured"] is True
    again = await client.post(url, headers=auth)
    assert (
        assert_error(again, 400, "BAD_REQUEST_ERROR")["error"]["description"]
        == "Payment not in capturable state"
    )


async def test_card_number_and_cvv_are_never_stored_queued_or_logged(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cvv = "8264"
    with caplog.at_level(logging.DEBUG):
        order_id = await new_order(client, auth)
        r = await client.post(
            "/api/v1/payments", json=card_body(order_id, VISA, cvv=cvv), headers=auth
        )
        assert r.status_code == 201
        pid = r.json()["id"]
        await payments.process(conn, pid, config)
    assert VISA not in caplog.text and cvv not in caplog.text
    rows = await db.fetch_all(
        conn,
        "SELECT row_to_json(p)::text AS t FROM payments p WHERE id = %(id)s"
        " UNION ALL SELECT row_to_json(e)::text FROM events e WHERE resource_id = %(id)s"
        " UNION ALL SELECT row_to_json(j)::text FROM procrastinate_jobs j"
        "  WHERE args->>'payment_id' = %(id)s",
        {"id": pid},
    )
    assert len(rows) >= 4
    for row in rows:
        assert VISA not in row["t"] and cvv not in row["t"] and "cvv" not in row["t"]
    dump = subprocess.run(
        [tools.pg_dump(), "--data-only", DATABASE_URL], capture_output=True, text=True, check=True
    ).stdout
    assert VISA not in dump and "4111 1111" not in dump


async def _job_started_at(conn: db.Conn, job_id: int) -> dt.datetime:
    """When a worker took the job: procrastinate's own `started` event, in the database's clock
    (the same clock its `scheduled_at <= now()` fetch condition reads)."""
    row = await db.fetch_one(
        conn,
        "SELECT min(at) AS at FROM procrastinate_events WHERE job_id = %(j)s AND type = 'started'",
        {"j": job_id},
    )
    assert row is not None and row["at"] is not None, "the job never started"
    at: dt.datetime = row["at"]
    return at


@pytest.mark.e2e
@pytest.mark.parametrize("succeed", [True, False])
async def test_real_worker_moves_payment_to_final_state(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, succeed: bool
) -> None:
    env = {"TEST_PAYMENT_SUCCESS": "true" if succeed else "false", "TEST_PROCESSING_DELAY": "1000"}
    with processes.worker(env):
        p = await new_payment(client, auth, method="card")

        async def final() -> str:
            got = await client.get(f"/api/v1/payments/{p['id']}", headers=auth)
            status: str = got.json()["status"]
            return "" if status == "pending" else status

        status = await wait_until(final, timeout=30)
    assert status == ("success" if succeed else "failed")
    # It ran on the job's clock, read from stored timestamps rather than a stopwatch (a worker's
    # start-up alone outlasts the delay): the job was scheduled 1 s after the payment was made,
    # and neither the worker's start nor the payment's update came before that.
    row = await db.fetch_one(
        conn, "SELECT created_at, updated_at FROM payments WHERE id = %(id)s", {"id": p["id"]}
    )
    jobs = await _jobs(conn, p["id"])
    assert row is not None and len(jobs) == 1 and jobs[0]["status"] == "succeeded"
    scheduled_at = jobs[0]["scheduled_at"]
    assert scheduled_at == row["created_at"] + dt.timedelta(seconds=1)
    assert await _job_started_at(conn, jobs[0]["id"]) >= scheduled_at
    assert row["updated_at"] >= scheduled_at
    order = (await client.get(f"/api/v1/orders/{p['order_id']}", headers=auth)).json()
    assert order["status"] == ("paid" if succeed else "created")
