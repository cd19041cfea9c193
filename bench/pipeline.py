"""Phase 2: payments end to end, and the worker alone.

a) End to end: 2,000 UPI payments created at c=32 by a client (TEST_MODE, 1 s processing delay),
   each delivering payment.created, payment.pending and payment.success to a receiver on
   127.0.0.1, with the worker processes `gateway run` starts. Measured: first create → last
   webhook received (target ≤ 20 s), and commit → first webhook attempt (p95 ≤ 250 ms).
b) Backlog drain: the same number of payments created with no worker running and due by the
   time ONE worker process starts; its jobs per second (target ≥ 500)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg

from bench import client, env, receiver


@dataclass
class Report:
    text: str
    total_seconds: float
    commit_to_attempt_p95_ms: float
    drain_jobs_per_second: float
    worker_peak_rss_mb: float


def _state(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM payments),"
        " (SELECT count(*) FROM payments WHERE status = 'pending'),"
        " (SELECT count(*) FROM webhook_logs WHERE status = 'success')"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])  # type: ignore[call-overload]


def _wait_done(conn: psycopg.Connection[tuple[object, ...]], expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total, pending, delivered = _state(conn)
        if total >= expected and pending == 0 and delivered >= 3 * total:
            return
        time.sleep(0.05)
    raise RuntimeError(f"not done after {timeout:.0f} s: {_state(conn)}")


def _commit_to_attempt_ms(conn: psycopg.Connection[tuple[object, ...]]) -> list[float]:
    """Per delivery: its log row's commit (created_at, taken in the state change's
    transaction) → its first attempt (the receiver answers 200, so the one attempt)."""
    rows = conn.execute(
        "SELECT extract(epoch FROM last_attempt_at - created_at) * 1000 FROM webhook_logs"
        " WHERE attempts = 1 AND status = 'success'"
    ).fetchall()
    return [float(r[0]) for r in rows]  # type: ignore[arg-type]


def _jobs_done(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        " AND queue_name <> 'maintenance'"
    ).fetchone()
    assert row is not None
    done: int = row[0]  # type: ignore[assignment]
    return done


def run(dbs: env.Databases, *, quick: bool, worker_processes: int) -> Report:
    n = 500 if quick else 2000
    db_url = dbs.fresh("pipeline")
    orders = env.seed_orders(db_url, 2 * n, "q")
    extra = {"TEST_PROCESSING_DELAY": "1000"}
    with (
        receiver.running() as hook,
        psycopg.connect(db_url, autocommit=True) as conn,
        env.api(db_url, extra=extra) as api,
    ):
        conn.execute(
            "UPDATE merchants SET webhook_url = %s WHERE id = %s",
            (hook.url + "/ok", env.MERCHANT_ID),
        )
        # a) end to end, with the workers `gateway run` starts, up before the clock starts.
        with env.workers(db_url, worker_processes, extra) as first:
            env.wait_for_worker(db_url)
            started = time.time()
            statuses = asyncio.run(client.create_payments(api.port, orders[:n], connections=32))
            created = time.time()
            _wait_done(conn, n, 180)
            last_webhook = max(at for at, _ in hook.records())
            worker_rss = env.peak_rss_mb(first.pid)
        total = last_webhook - started
        bad = sum(1 for s in statuses if s != 201)
        lags = _commit_to_attempt_ms(conn)
        p50, p95 = env.percentile(lags, 50), env.percentile(lags, 95)
        jobs_a = _jobs_done(conn)
        # b) backlog drain: one worker process alone.
        asyncio.run(client.create_payments(api.port, orders[n:], connections=32))
        time.sleep(1.2)  # every payment's processing job is due before the worker starts
        with env.workers(db_url, 1, extra) as lone:
            env.wait_for_worker(db_url)
            t0, jobs0 = time.monotonic(), _jobs_done(conn)
            _wait_done(conn, 2 * n, 300)
            drain_seconds = time.monotonic() - t0
            drained = _jobs_done(conn) - jobs0
            worker_rss = max(worker_rss, env.peak_rss_mb(lone.pid))
    rate = drained / drain_seconds
    text = env.table(
        f"2. Pipeline: {n:,} UPI payments, TEST_MODE, 1 s delay, 3 webhooks each to a receiver"
        f" on 127.0.0.1",
        ["run", "workers", "payments", "jobs", "seconds", "jobs/s", "commit→attempt p50/p95 ms",
         "non-201"],
        [
            ["a) end to end (first create → last webhook)", worker_processes, n, jobs_a, total,
             jobs_a / total, f"{p50:.0f} / {p95:.0f}", bad],
            ["b) backlog drain (worker start → all done)", 1, n, drained, drain_seconds, rate,
             "", 0],
        ],
    )  # fmt: skip
    text += f"\ncreation at c=32 took {created - started:.1f} s ({n / (created - started):,.0f}/s)"
    return Report(text, total, p95, rate, worker_rss)
