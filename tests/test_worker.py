"""A real procrastinate worker process against a database of the test's own (e2e): /health and
/api/v1/test/jobs/status follow its heartbeats, job counts come from the real job table, and a job
left in `doing` by a SIGKILLed worker is re-queued by the maintenance task and completes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from gateway import db, queue, settings
from tests import processes
from tests.helpers import app_client, wait_until

pytestmark = pytest.mark.e2e

T = TypeVar("T")

# Small timings so the test sees "stopped" and stalled jobs within seconds, not the 15 s default.
WORKER_ENV = {
    "GATEWAY_WORKER_HEARTBEAT_INTERVAL": "1",
    "GATEWAY_STALLED_WORKER_SECONDS": "3",
    "GATEWAY_WORKER_POLLING_INTERVAL": "0.2",
    "GATEWAY_EXTRA_TASK_MODULES": "tests.worker_tasks",
}
STALLED_SECONDS = 3.0


class Workers:
    """Starts real `procrastinate --app=gateway.queue.app worker` processes; kills leftovers."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker-{len(self.started)}.log").open("wb") as log:
            process = processes.spawn_worker(
                WORKER_ENV,
                # Only our queues: jobs other tests left behind are not this test's business.
                args=["--queues=tests,maintenance"],
                output=log,
            )
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    for process in started.started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
async def client(config: settings.Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API on this test's database, judging heartbeats with the test workers' small stall
    timeout, and with /health reading the worker table on every call (its snapshot age, up to
    a second by default, is tested in tests/test_health.py; here each moment is the point)."""
    own = config.model_copy(
        update={
            "database_url": database_url,
            "stalled_worker_seconds": STALLED_SECONDS,
            "health_max_age_seconds": 0,
        }
    )
    async with app_client(own) as c:
        yield c


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    workers: Workers,
    timeout: float = 15,
) -> T:
    """helpers.wait_until for `ok(probe())`, failing with the workers' logs."""
    last: list[T] = []

    async def met() -> bool:
        last[:] = [await probe()]
        return ok(last[0])

    try:
        await wait_until(met, timeout)
    except AssertionError:
        pytest.fail(f"condition not met in {timeout}s; last value {last!r}\n{workers.logs()}")
    return last[0]


async def _status(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/api/v1/test/jobs/status")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _health_worker(client: httpx.AsyncClient) -> str:
    r = await client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["database"] == "connected"
    worker: str = r.json()["worker"]
    return worker


async def _job(conn: db.Conn, job_id: int) -> db.Row:
    row = await db.fetch_one(
        conn,
        "SELECT status::text AS status, worker_id, attempts FROM procrastinate_jobs"
        " WHERE id = %(id)s",
        {"id": job_id},
    )
    assert row is not None
    return row


@pytest.fixture
async def parked_jobs(conn: db.Conn) -> AsyncIterator[list[int]]:
    """Jobs on a queue no test worker listens to; deleted afterwards so counts stay honest."""
    ids: list[int] = []
    yield ids
    await conn.execute("DELETE FROM procrastinate_jobs WHERE id = ANY(%(ids)s)", {"ids": ids})


async def _worker_ids(conn: db.Conn) -> list[int]:
    rows = await db.fetch_all(conn, "SELECT id FROM procrastinate_workers ORDER BY id")
    return [r["id"] for r in rows]


async def test_status_and_health_follow_a_real_worker_and_the_job_table(
    client: httpx.AsyncClient,
    conn: db.Conn,
    workers: Workers,
    parked_jobs: list[int],
) -> None:
    # The test's own database: no worker has ever run on it.
    before = await _status(client)
    assert before["worker_status"] == "stopped"
    assert await _health_worker(client) == "stopped"
    for key in ("pending", "processing", "completed", "failed"):
        assert type(before[key]) is int, before

    # A job deferred in a transaction that rolls back never exists (the outbox property).
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with conn.transaction():
            parked_jobs.append(await queue.defer(conn, "tests.noop", queue="tests_parked"))
            raise Abort
    assert (await _status(client))["pending"] == before["pending"]

    async with conn.transaction():
        parked_jobs.append(await queue.defer(conn, "tests.noop", queue="tests_parked"))
    assert (await _status(client))["pending"] == before["pending"] + 1

    worker = workers.start()
    await eventually(lambda: _health_worker(client), lambda w: w == "running", workers)
    assert (await _status(client))["worker_status"] == "running"

    # A job the worker runs moves from pending to completed in the counts.
    async with conn.transaction():
        ran = await queue.defer(conn, "tests.noop", queue="tests")
    await eventually(lambda: _job(conn, ran), lambda r: r["status"] == "succeeded", workers)
    after = await _status(client)
    assert after["completed"] >= before["completed"] + 1
    assert (await _job(conn, parked_jobs[-1]))["status"] == "todo"  # not on its queues

    # A graceful stop unregisters the worker: its row is gone and the API says "stopped" the
    # moment the process has exited, without waiting out the stall timeout (a worker that only
    # stopped heartbeating would still count as running for up to STALLED_SECONDS).
    registered = await _worker_ids(conn)
    assert len(registered) == 1, registered
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, workers.logs()
    assert await _worker_ids(conn) == []
    assert await _health_worker(client) == "stopped"
    assert (await _status(client))["worker_status"] == "stopped"


async def test_a_job_of_a_killed_worker_is_requeued_and_completes(
    client: httpx.AsyncClient,
    conn: db.Conn,
    workers: Workers,
    tmp_path: Path,
) -> None:
    started, release, done = (tmp_path / n for n in ("started", "release", "done"))
    async with conn.transaction():
        job_id = await queue.defer(
            conn,
            "tests.block_until_released",
            queue="tests",
            started=str(started),
            release=str(release),
            done=str(done),
        )

    first = workers.start()
    await eventually(lambda: _job(conn, job_id), lambda r: r["status"] == "doing", workers)
    await eventually(lambda: asyncio.sleep(0, started.exists()), bool, workers)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    # procrastinate does not recover it by itself: the row stays `doing`, and once the dead
    # worker's heartbeat is older than the timeout the API reports no worker.
    await eventually(lambda: _health_worker(client), lambda w: w == "stopped", workers, 10)
    assert (await _job(conn, job_id))["status"] == "doing"
    assert (await _status(client))["processing"] >= 1

    release.touch()
    second = workers.start()
    await eventually(
        lambda: _job(conn, job_id), lambda r: r["status"] == "succeeded", workers, timeout=20
    )
    assert started.read_text().splitlines() == ["started", "started"]  # ran again, to the end
    assert done.read_text() == "done\n"
    # This job, not some other: it went from `doing` back to `todo` (retry_job, what
    # maintenance.requeue_stalled calls) and was started a second time. Nothing else moves a
    # job back to `todo`: the task has no retries and never failed.
    history = await db.fetch_all(
        conn,
        "SELECT type::text AS type FROM procrastinate_events WHERE job_id = %(j)s ORDER BY id",
        {"j": job_id},
    )
    types = [h["type"] for h in history]
    assert types == [
        "scheduled",  # our jobs are due at a time (now() for this one), for the lag metric
        "deferred",
        "started",
        "scheduled",  # retry_job sets scheduled_at (to now) ...
        "deferred_for_retry",  # ... and moves the job from doing back to todo
        "started",
        "succeeded",
    ], types

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=15) == 0, workers.logs()
