"""Phase 2: N test-mode payments created as fast as the API takes them, then the time until
every payment is final and its three webhooks delivered; and the worker's drain rate."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg

from bench import client, env, receiver


@dataclass
class Report:
    text: str
    api_peak_rss_mb: float
    worker_peak_rss_mb: float
    total_seconds: float
    jobs_per_second: float


def _state(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM payments),"
        " (SELECT count(*) FROM payments WHERE status = 'pending'),"
        " (SELECT count(*) FROM webhook_logs WHERE status = 'success')"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])  # type: ignore[call-overload]


def _wait_done(conn: psycopg.Connection[tuple[object, ...]], timeout: float) -> float:
    """Seconds (monotonic clock) at which all payments were final and all webhooks delivered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total, pending, delivered = _state(conn)
        if total and pending == 0 and delivered >= 3 * total:
            return time.monotonic()
        time.sleep(0.05)
    total, pending, delivered = _state(conn)
    raise RuntimeError(f"not done: {total} payments, {pending} pending, {delivered} delivered")


def _job_rates(conn: psycopg.Connection[tuple[object, ...]], since: float) -> tuple[int, float]:
    """(jobs finished since `since` (Unix time), best 1-second window of finished jobs)."""
    row = conn.execute(
        "WITH f AS (SELECT at FROM procrastinate_events WHERE type IN ('succeeded', 'failed')"
        " AND at >= to_timestamp(%(since)s))"
        " SELECT (SELECT count(*) FROM f),"
        " (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM f"
        "  GROUP BY date_trunc('second', at)) w)",
        {"since": since},
    ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])  # type: ignore[call-overload, arg-type]


def run(
    dbs: env.Databases, *, quick: bool, api_workers: int = 1, worker_processes: int = 1
) -> Report:
    n = 500 if quick else 2000
    db_url = dbs.fresh("pipeline")
    orders = env.seed_orders(db_url, 2 * n, "q")
    settings_used = {"TEST_PROCESSING_DELAY": "1000"}
    rows: list[list[object]] = []
    with (
        receiver.running() as hook,
        psycopg.connect(db_url, autocommit=True) as conn,
        env.api(db_url, api_workers, settings_used) as api,
    ):
        conn.execute(
            "UPDATE merchants SET webhook_url = %s WHERE id = %s",
            (hook.url + "/ok", env.MERCHANT_ID),
        )
        # a) end to end: the worker runs while payments are being created.
        worker_rss = 0.0
        with env.workers(db_url, worker_processes, settings_used) as worker:
            time.sleep(1.5)  # the worker is up and listening before the clock starts
            wall0 = time.time()
            t0 = time.monotonic()
            statuses = asyncio.run(client.create_payments(api.port, orders[:n], connections=32))
            created = time.monotonic()
            done = _wait_done(conn, 120)
            jobs, best_window = _job_rates(conn, wall0)
            worker_rss = max(worker_rss, env.peak_rss_mb(worker.pid))
        total = done - t0
        bad = sum(1 for s in statuses if s != 201)
        # Where the time went: the slowest gap between a job being due and starting, per task.
        lag = conn.execute(
            "SELECT j.task_name, count(*), max(extract(epoch FROM s.at - greatest(j.scheduled_at,"
            " d.at))), max(j.attempts) FROM procrastinate_jobs j"
            " JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'"
            " JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started'"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        lag_text = "; ".join(f"{t}: {n} jobs, worst start lag {m:.2f} s" for t, n, m, _ in lag)
        rows.append(
            [
                "end to end",
                n,
                created - t0,
                n / (created - t0),
                total,
                jobs,
                jobs / total,
                best_window,
                bad,
            ]
        )
        # b) backlog drain: payments created with no worker running, due by the time one
        # starts; the worker alone then sets the pace (1 process_payment + 3 deliveries each).
        asyncio.run(client.create_payments(api.port, orders[n:], connections=32))
        time.sleep(1.2)
        wall1 = time.time()
        t1 = time.monotonic()
        with env.workers(db_url, worker_processes, settings_used) as worker:
            done2 = _wait_done(conn, 120)
            jobs2, best2 = _job_rates(conn, wall1)
            worker_rss = max(worker_rss, env.peak_rss_mb(worker.pid))
        drain = done2 - t1
        rows.append(["backlog drain", n, 0.0, 0.0, drain, jobs2, jobs2 / drain, best2, 0])
        api_rss = api.peak_rss_mb()
    text = env.table(
        f"2. Pipeline: {n} UPI payments, TEST_MODE, TEST_PROCESSING_DELAY=1000, receiver answers"
        f" 200; API {api_workers} uvicorn worker(s), {worker_processes} procrastinate worker"
        " process(es)"
        " (drain time includes worker start-up)",
        [
            "run",
            "payments",
            "create s",
            "create/s",
            "all final+delivered s",
            "jobs",
            "jobs/s avg",
            "jobs/s best 1 s",
            "non-201",
        ],
        rows,
    )
    text += f"\nend to end, due → started: {lag_text}"
    text += (
        f"\n{n} payments final with 3 webhooks each delivered in {total:.1f} s (target for 2,000:"
        f" ≤ 30 s); worker drained {jobs2 / drain:,.0f} jobs/s (target ≥ 500)"
    )
    return Report(text, api_rss, worker_rss, total, jobs2 / drain)
