"""Webhook delivery end to end: a real worker process, a real local receiver."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks

from gateway import db, events, merchants
from gateway.webhooks import verify
from tests import processes
from tests.helpers import auth_of, new_merchant, new_payment, wait_until
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e


async def _merchant(conn: db.Conn, url: str) -> tuple[merchants.NewMerchant, dict[str, str]]:
    m = await new_merchant(conn, name="Hooks", webhook_url=url)
    return m, auth_of(m)


async def _log(client: httpx.AsyncClient, auth: dict[str, str], **filters: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    data: list[dict[str, Any]] = (
        await client.get(f"/api/v1/webhooks?{query}", headers=auth)
    ).json()["data"]
    return data[0] if data else {}


async def test_payment_events_arrive_in_order_with_valid_signatures(
    client: httpx.AsyncClient, conn: db.Conn
) -> None:
    with Receiver() as receiver, processes.worker():
        m, auth = await _merchant(conn, receiver.url + "/ok")
        p = await new_payment(client, auth, method="card")

        async def three() -> bool:
            return len(receiver.on("/ok")) >= 3

        await wait_until(three, 20)
    got = [r for r in receiver.on("/ok") if json.loads(r.body)["data"]["payment"]["id"] == p["id"]]
    assert [json.loads(r.body)["event"] for r in got] == [
        "payment.created",
        "payment.pending",
        "payment.success",
    ]
    for r in got:
        assert r.headers["content-type"] == "application/json"
        assert (
            verify.verify(r.body, r.headers, m.webhook_secret)["data"]["payment"]["id"] == p["id"]
        )
        assert verify.verify(
            r.body,
            {"X-Webhook-Signature": r.headers["x-webhook-signature"]},
            m.webhook_secret,
            allow_legacy=True,
        )
        standardwebhooks.Webhook(m.webhook_secret).verify(r.body.decode(), r.headers)
        assert r.headers["webhook-id"].startswith("evt_")
        assert r.body.decode() == json.dumps(
            json.loads(r.body), separators=(",", ":"), ensure_ascii=False
        )
    logs = (await client.get(f"/api/v1/webhooks?resource_id={p['id']}", headers=auth)).json()[
        "data"
    ]
    assert {log["status"] for log in logs} == {"success"} and {log["attempts"] for log in logs} == {
        1
    }
    assert {log["event_id"] for log in logs} == {r.headers["webhook-id"] for r in got}


async def _attempt_jobs(conn: db.Conn, log_id: str) -> list[db.Row]:
    """The delivery jobs of one log in the order they were deferred, with when each was due and
    when procrastinate started and finished it (its own events, in the database's clock)."""
    return await db.fetch_all(
        conn,
        "SELECT j.id, j.scheduled_at,"
        " (SELECT min(at) FROM procrastinate_events e"
        "   WHERE e.job_id = j.id AND e.type = 'started') AS started_at,"
        " (SELECT max(at) FROM procrastinate_events e"
        "   WHERE e.job_id = j.id AND e.type = 'succeeded') AS finished_at"
        " FROM procrastinate_jobs j WHERE j.task_name = 'deliver_webhook'"
        " AND (j.args->>'log_id' = %(id)s OR j.args->'log_ids' ? %(id)s) ORDER BY j.id",
        {"id": log_id},
    )


async def test_retry_schedule_and_failure_modes(client: httpx.AsyncClient, conn: db.Conn) -> None:
    """Runs the scenarios side by side so the 0/5/10/15/20 s schedule is paid once (~50 s)."""
    with Receiver() as receiver, processes.worker():
        closed = f"http://127.0.0.1:{processes.free_port()}/nobody"
        paths = ["/fail2", "/fail", "/gone", "/redirect", "/hang", "/reset", "/big"]
        auths: dict[str, dict[str, str]] = {}
        for path in paths:
            auths[path] = (await _merchant(conn, receiver.url + path))[1]
        auths["refused"] = (await _merchant(conn, closed))[1]
        for auth in auths.values():
            assert (await client.post("/api/v1/webhooks/test", headers=auth)).status_code == 202

        async def all_settled() -> bool:
            fail = await _log(client, auths["/fail"])
            return bool(fail) and fail["status"] == "failed"

        await wait_until(all_settled, 75, step=1)
        logs = {name: await _log(client, auth) for name, auth in auths.items()}

    fail2 = logs["/fail2"]
    assert fail2["status"] == "success" and fail2["attempts"] == 3 and fail2["response_code"] == 200
    assert len(receiver.on("/fail2")) == 3
    # The retry gaps of the test table (5 s, then 10 s), read from the job table rather than a
    # stopwatch: each retry job was due `gap` after the failed attempt was recorded (which
    # happened while the previous job ran), and no worker started it before it was due.
    jobs = await _attempt_jobs(conn, fail2["id"])
    assert len(jobs) == 3, jobs
    for previous, job, gap in zip(jobs[:-1], jobs[1:], (5, 10), strict=True):
        due = job["scheduled_at"]
        assert previous["started_at"] + dt.timedelta(seconds=gap) <= due, (previous, job)
        assert due <= previous["finished_at"] + dt.timedelta(seconds=gap), (previous, job)
        assert job["started_at"] >= due, job

    fail = logs["/fail"]
    assert fail["attempts"] == 5 and fail["next_retry_at"] is None and fail["response_code"] == 500
    detail = (await client.get(f"/api/v1/webhooks/{fail['id']}", headers=auths["/fail"])).json()
    assert len(detail["response_body"]) == 2048

    gone = logs["/gone"]
    assert gone["status"] == "failed" and gone["attempts"] == 1 and gone["next_retry_at"] is None
    assert len(receiver.on("/gone")) == 1

    redirect = logs["/redirect"]
    assert redirect["status"] in ("pending", "failed") and redirect["response_code"] == 302
    assert receiver.on("/ok") == []  # the redirect was not followed

    refused = logs["refused"]
    assert (
        refused["attempts"] >= 2
        and refused["response_code"] is None
        and refused["status"] != "success"
    )

    hang = logs["/hang"]
    assert hang["status"] != "success" and hang["attempts"] >= 1 and hang["response_code"] is None
    detail = (await client.get(f"/api/v1/webhooks/{hang['id']}", headers=auths["/hang"])).json()
    assert "timed out" in detail["response_body"]

    reset = logs["/reset"]
    assert reset["status"] != "success" and reset["attempts"] >= 2
    assert reset["response_code"] is None

    big = logs["/big"]
    assert big["status"] == "success" and big["response_code"] == 200
    detail = (await client.get(f"/api/v1/webhooks/{big['id']}", headers=auths["/big"])).json()
    assert len(detail["response_body"]) == 2048


async def test_manual_retry_redelivers_with_the_same_webhook_id_and_rotation_signs_twice(
    client: httpx.AsyncClient, conn: db.Conn
) -> None:
    with Receiver() as receiver, processes.worker():
        m, auth = await _merchant(conn, receiver.url + "/ok")
        await client.post("/api/v1/webhooks/test", headers=auth)

        async def count(n: int) -> bool:
            return len(receiver.on("/ok")) >= n

        await wait_until(lambda: count(1), 15)
        log = await _log(client, auth)
        r = await client.post(f"/api/v1/webhooks/{log['id']}/retry", headers=auth)
        assert r.status_code == 200
        await wait_until(lambda: count(2), 15)
        first, second = receiver.on("/ok")[:2]
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == log["event_id"]
        assert first.body == second.body

        old_secret = m.webhook_secret
        new_secret = (
            await client.post("/api/v1/webhooks/config/rotate-secret", headers=auth)
        ).json()["secret"]
        await client.post("/api/v1/webhooks/test", headers=auth)
        await wait_until(lambda: count(3), 15)
    rotated = receiver.on("/ok")[2]
    assert len(rotated.headers["webhook-signature"].split(" ")) == 2
    standardwebhooks.Webhook(new_secret).verify(rotated.body.decode(), rotated.headers)
    standardwebhooks.Webhook(old_secret).verify(rotated.body.decode(), rotated.headers)
    assert verify.verify(
        rotated.body,
        {"X-Webhook-Signature": rotated.headers["x-webhook-signature"]},
        new_secret,
        allow_legacy=True,
    )
    with pytest.raises(verify.WebhookVerificationError):
        verify.verify(
            rotated.body,
            {"X-Webhook-Signature": rotated.headers["x-webhook-signature"]},
            old_secret,
            allow_legacy=True,
        )


async def _doing(conn: db.Conn, task: str) -> int:
    row = await db.fetch_one(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'doing' AND task_name = %(t)s",
        {"t": task},
    )
    assert row is not None
    return int(row["n"])


async def test_sigkill_mid_burst_loses_no_delivery(
    client: httpx.AsyncClient, conn: db.Conn
) -> None:
    env = {"GATEWAY_STALLED_WORKER_SECONDS": "3", "GATEWAY_WORKER_HEARTBEAT_INTERVAL": "1"}
    with Receiver() as receiver:
        m, _ = await _merchant(conn, receiver.url + "/gate")
        committed: list[str] = []
        for i in range(200):
            async with conn.transaction():
                event = await events.emit(conn, m.id, "webhook.test", f"burst_{i}", {"n": i})
            committed.append(event.id)
        first = processes.spawn_worker(env)
        try:
            await wait_until(
                lambda: asyncio.sleep(0, len(receiver.on("/gate")) >= 40), 30, step=0.05
            )
            # From here deliveries reach the receiver and wait there: the kill lands while they
            # are in flight, not between two of them.
            receiver.close_gate()
            await wait_until(lambda: asyncio.sleep(0, receiver.holding() >= 1), 30, step=0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        at_kill = {r.headers["webhook-id"] for r in receiver.on("/gate")}
        interrupted = await _doing(conn, "deliver_webhook")
        # The kill interrupted work: deliveries left `doing` by the dead worker, events not
        # yet delivered.
        assert interrupted >= 1
        assert len(at_kill) < len(committed)
        receiver.open_gate()
        with processes.worker(env):

            async def everything() -> bool:
                seen = {r.headers["webhook-id"] for r in receiver.on("/gate")}
                # ... and no delivery job left unfinished: the dead worker's too, re-queued.
                unfinished = await db.fetch_one(
                    conn,
                    "SELECT count(*) AS n FROM procrastinate_jobs"
                    " WHERE status IN ('todo', 'doing') AND task_name = 'deliver_webhook'",
                )
                return seen >= set(committed) and unfinished is not None and unfinished["n"] == 0

            await wait_until(everything, 60, step=0.5, what="every committed event delivered")
    ids = [r.headers["webhook-id"] for r in receiver.on("/gate")]
    duplicates = sum(n - 1 for n in Counter(ids).values())
    report = (
        f"sigkill burst: 200 events, {len(at_kill)} received and {interrupted} deliveries in"
        f" progress at the kill, {len(ids)} requests, {duplicates} duplicates"
    )
    print(report)
    out = Path(__file__).resolve().parent.parent / "test-output"
    out.mkdir(exist_ok=True)
    (out / "webhook-sigkill.txt").write_text(report + "\n")
    assert set(ids) >= set(committed)
