"""Refunds: never past the payment (also under concurrency), atomic creation, processing on the
job table's clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import httpx
import pytest

from gateway import db, payments, refunds, settings
from tests import processes
from tests.conftest import assert_error
from tests.helpers import new_payment, successful_payment, wait_until

EXCEEDS = "Refund amount exceeds available amount"
NOT_REFUNDABLE = "Payment not in refundable state"


def _url(payment_id: str) -> str:
    return f"/api/v1/payments/{payment_id}/refunds"


async def _refund(
    client: httpx.AsyncClient, auth: dict[str, str], payment_id: str, amount: Any, **extra: Any
) -> httpx.Response:
    return await client.post(_url(payment_id), json={"amount": amount, **extra}, headers=auth)


async def _amount_refunded(client: httpx.AsyncClient, auth: dict[str, str], pid: str) -> int:
    got = (await client.get(f"/api/v1/payments/{pid}", headers=auth)).json()
    refunded: int = got["amount_refunded"]
    return refunded


async def test_full_refund_returns_a_pending_refund_and_leaves_nothing_available(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    r = await _refund(client, auth, p["id"], 50000, reason="Customer request")
    assert r.status_code == 201, r.text
    refund = r.json()
    assert re.fullmatch(r"rfnd_[A-Za-z0-9]{16}", refund["id"])
    assert refund == {
        "id": refund["id"],
        "payment_id": p["id"],
        "amount": 50000,
        "reason": "Customer request",
        "status": "pending",
        "created_at": refund["created_at"],
        "processed_at": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", refund["created_at"])
    assert await _amount_refunded(client, auth, p["id"]) == 50000
    again = await _refund(client, auth, p["id"], 1)
    assert assert_error(again, 400, "BAD_REQUEST_ERROR")["error"]["description"] == EXCEEDS


async def test_multiple_partial_refunds_up_to_the_amount_and_not_one_paisa_more(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    for amount in (10000, 15000):
        assert (await _refund(client, auth, p["id"], amount)).status_code == 201
    assert await _amount_refunded(client, auth, p["id"]) == 25000
    over = await _refund(client, auth, p["id"], 25001)
    assert assert_error(over, 400, "BAD_REQUEST_ERROR")["error"]["description"] == EXCEEDS
    assert (await _refund(client, auth, p["id"], 25000)).status_code == 201
    assert await _amount_refunded(client, auth, p["id"]) == 50000


async def test_refund_larger_than_the_payment_is_rejected(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    r = await _refund(client, auth, p["id"], 50001)
    assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == EXCEEDS
    assert await _amount_refunded(client, auth, p["id"]) == 0
    listed = (await client.get(f"/api/v1/refunds?payment_id={p['id']}", headers=auth)).json()
    assert listed["total"] == 0


async def test_pending_and_failed_payments_are_not_refundable(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    pending = await new_payment(client, auth)
    r = await _refund(client, auth, pending["id"], 100)
    assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == NOT_REFUNDABLE
    failed = await new_payment(client, auth)
    declining = config.model_copy(update={"test_payment_success": False})
    assert (await payments.process(conn, failed["id"], declining)) is not None
    r = await _refund(client, auth, failed["id"], 100)
    assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == NOT_REFUNDABLE


async def test_another_merchants_payment_and_refund_are_not_found(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
) -> None:
    p = await successful_payment(client, auth, conn, config)
    assert_error(await _refund(client, other_auth, p["id"], 100), 404, "NOT_FOUND_ERROR")
    assert_error(await _refund(client, auth, "pay_doesnotexist0000", 100), 404, "NOT_FOUND_ERROR")
    mine = (await _refund(client, auth, p["id"], 100)).json()
    other = await client.get(f"/api/v1/refunds/{mine['id']}", headers=other_auth)
    assert_error(other, 404, "NOT_FOUND_ERROR")
    assert (await client.get("/api/v1/refunds", headers=other_auth)).json()["total"] == 0
    assert await _amount_refunded(client, auth, p["id"]) == 100


@pytest.mark.parametrize("amount", [0, -100, "100", 10.5, True, None])
async def test_refund_amount_must_be_a_positive_integer(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    amount: Any,
) -> None:
    p = await successful_payment(client, auth, conn, config)
    assert_error(await _refund(client, auth, p["id"], amount), 400, "BAD_REQUEST_ERROR")
    missing = await client.post(_url(p["id"]), json={"reason": "x"}, headers=auth)
    assert_error(missing, 400, "BAD_REQUEST_ERROR")
    assert_error(await _refund(client, {}, p["id"], 100), 401, "AUTHENTICATION_ERROR")


async def test_refund_row_event_and_delayed_job_commit_together(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config)
    refund = (await _refund(client, auth, p["id"], 1234)).json()
    events = await db.fetch_all(
        conn,
        "SELECT type, payload FROM events WHERE resource_id = %(r)s",
        {"r": refund["id"]},
    )
    assert [e["type"] for e in events] == ["refund.created"]
    assert f'"refund":{{"id":"{refund["id"]}"' in events[0]["payload"]
    jobs = await db.fetch_all(
        conn,
        "SELECT task_name, queue_name, scheduled_at FROM procrastinate_jobs"
        " WHERE args->>'refund_id' = %(r)s",
        {"r": refund["id"]},
    )
    assert len(jobs) == 1
    assert (jobs[0]["task_name"], jobs[0]["queue_name"]) == ("process_refund", "refunds")
    row = await db.fetch_one(
        conn, "SELECT created_at FROM refunds WHERE id = %(id)s", {"id": refund["id"]}
    )
    assert row is not None
    delay = jobs[0]["scheduled_at"] - row["created_at"]
    assert dt.timedelta(seconds=3) <= delay <= dt.timedelta(seconds=5)


async def test_processing_a_refund_twice_changes_nothing_the_second_time(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config)
    refund = (await _refund(client, auth, p["id"], 500)).json()
    first = await refunds.process(conn, refund["id"])
    assert first is not None and first.status == "processed" and first.processed_at
    assert await refunds.process(conn, refund["id"]) is None
    types = await db.fetch_all(
        conn, "SELECT type FROM events WHERE resource_id = %(r)s", {"r": refund["id"]}
    )
    assert [t["type"] for t in types].count("refund.processed") == 1
    # Processed refunds still count against the available amount.
    r = await _refund(client, auth, p["id"], p["amount"] - 499)
    assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == EXCEEDS


async def test_list_refunds_newest_first_with_filters(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    a = await successful_payment(client, auth, conn, config)
    b = await successful_payment(client, auth, conn, config)
    made = [(await _refund(client, auth, pid, 100)).json() for pid in (a["id"], b["id"], a["id"])]
    await refunds.process(conn, made[0]["id"])
    everything = (await client.get("/api/v1/refunds", headers=auth)).json()
    assert everything["total"] == 3 and (everything["limit"], everything["offset"]) == (10, 0)
    assert [r["id"] for r in everything["data"]] == [m["id"] for m in reversed(made)]
    of_a = (await client.get(f"/api/v1/refunds?payment_id={a['id']}", headers=auth)).json()
    assert {r["id"] for r in of_a["data"]} == {made[0]["id"], made[2]["id"]}
    processed = (await client.get("/api/v1/refunds?status=processed", headers=auth)).json()
    assert [r["id"] for r in processed["data"]] == [made[0]["id"]]
    assert processed["data"][0]["processed_at"] is not None
    page = (await client.get("/api/v1/refunds?limit=1&offset=1", headers=auth)).json()
    assert page["total"] == 3 and [r["id"] for r in page["data"]] == [made[1]["id"]]
    got = await client.get(f"/api/v1/refunds/{made[1]['id']}", headers=auth)
    assert got.status_code == 200 and got.json() == made[1]
    assert_error(
        await client.get("/api/v1/refunds?status=done", headers=auth), 400, "BAD_REQUEST_ERROR"
    )
    assert_error(
        await client.get("/api/v1/refunds?limit=0", headers=auth), 400, "BAD_REQUEST_ERROR"
    )


async def test_concurrent_partial_refunds_never_exceed_the_payment(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    # 20 x 4,000 = 80,000 asked of a 50,000 payment, all at once, each on its own pooled
    # connection: the row lock must let exactly 12 through (48,000) and refuse 8.
    responses = await asyncio.gather(*(_refund(client, auth, p["id"], 4000) for _ in range(20)))
    accepted = [r for r in responses if r.status_code == 201]
    rejected = [r for r in responses if r.status_code != 201]
    for r in rejected:
        assert assert_error(r, 400, "BAD_REQUEST_ERROR")["error"]["description"] == EXCEEDS
    assert len(accepted) == 12 and len(rejected) == 8
    total = sum(r.json()["amount"] for r in accepted)
    assert total <= 50000
    row = await db.fetch_one(
        conn,
        "SELECT coalesce(sum(amount), 0) AS n, count(*) AS c FROM refunds WHERE payment_id = %(p)s",
        {"p": p["id"]},
    )
    assert row is not None and (row["n"], row["c"]) == (total, 12)
    assert await _amount_refunded(client, auth, p["id"]) == total


@pytest.mark.e2e
async def test_real_worker_processes_the_refund_after_its_delay(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config)
    with processes.worker():
        refund = (await _refund(client, auth, p["id"], 2500, reason="damaged")).json()

        async def processed() -> dict[str, Any]:
            got: dict[str, Any] = (
                await client.get(f"/api/v1/refunds/{refund['id']}", headers=auth)
            ).json()
            return {} if got["status"] == "pending" else got

        got = await wait_until(processed, timeout=30)
    assert got["status"] == "processed", got
    # The job table's clock, from stored timestamps (a stopwatch also counts the worker's
    # start-up): the job was scheduled 3-5 s after the refund was made, the worker took it no
    # earlier, and the refund was processed no earlier either.
    row = await db.fetch_one(
        conn,
        "SELECT r.created_at, r.processed_at, j.scheduled_at, j.status::text AS job_status,"
        " (SELECT min(e.at) FROM procrastinate_events e"
        "   WHERE e.job_id = j.id AND e.type = 'started') AS started_at"
        " FROM refunds r JOIN procrastinate_jobs j"
        "   ON j.task_name = 'process_refund' AND j.args->>'refund_id' = r.id"
        " WHERE r.id = %(r)s",
        {"r": refund["id"]},
    )
    assert row is not None and row["job_status"] == "succeeded", row
    delay = row["scheduled_at"] - row["created_at"]
    assert dt.timedelta(seconds=3) <= delay <= dt.timedelta(seconds=5), delay
    assert row["started_at"] >= row["scheduled_at"]
    assert row["processed_at"] >= row["scheduled_at"]
    events = await db.fetch_all(
        conn,
        "SELECT type, payload FROM events WHERE resource_id = %(r)s ORDER BY created_at",
        {"r": refund["id"]},
    )
    assert [e["type"] for e in events] == ["refund.created", "refund.processed"]
    assert '"status":"processed"' in events[1]["payload"]


async def test_refund_events_reach_the_webhook_outbox_once_even_when_replayed(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    p = await successful_payment(client, auth, conn, config)
    r = await client.put(
        "/api/v1/webhooks/config", json={"url": "http://127.0.0.1:9/hook"}, headers=auth
    )
    assert r.status_code == 200, r.text
    headers = {**auth, "Idempotency-Key": "refund-webhook-1"}
    first = await client.post(_url(p["id"]), json={"amount": 700}, headers=headers)
    again = await client.post(_url(p["id"]), json={"amount": 700}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.content == again.content
    refund_id = first.json()["id"]
    await refunds.process(conn, refund_id)
    logs = await db.fetch_all(
        conn,
        "SELECT event, payload FROM webhook_logs WHERE resource_id = %(r)s ORDER BY created_at",
        {"r": refund_id},
    )
    assert [log["event"] for log in logs] == ["refund.created", "refund.processed"]
    assert f'"data":{{"refund":{{"id":"{refund_id}"' in logs[0]["payload"]
