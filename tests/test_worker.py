"""A real procrastinate worker process against the test database: /health and
/api/v1/test/jobs/status follow its heartbeats, job counts come from the real job table, and a job
left in `doing` by a SIGKILLed worker is re-queued by the maintenance task and completes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from gateway import cli, db, queue, settings

ROOT = Path(__file__).resolve().parent.parent
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
        log = (self.log_dir / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [
                *cli.worker_command(),
                # Only our queues: jobs other tests left behind are not this test's business.
                "--queues=tests,maintenance",
            ],
            env={**os.environ, **WORKER_ENV},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
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
def short_stall(config: settings.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API process judges heartbeats with the same small timeout as the test workers."""
    monkeypatch.setattr(config, "stalled_worker_seconds", STALLED_SECONDS)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    workers: Workers,
    timeout: float = 15,
) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met in {timeout}s; last value {value!r}\n{workers.logs()}")
        await asyncio.sleep(0.2)


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


async def test_status_and_health_follow_a_real_worker_and_the_job_table(
    client: httpx.AsyncClient,
    conn: db.Conn,
    workers: Workers,
    short_stall: None,
    parked_jobs: list[int],
) -> None:
    # Workers of earlier tests (a SIGKILLed one leaves its heartbeat row) count as running
    # until their last heartbeat is older than the stall timeout; wait that out first.
    before = await eventually(
        lambda: _status(client), lambda s: s["worker_status"] == "stopped", workers
    )
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

    # A graceful stop unregisters the worker: "stopped" at once, not after the timeout.
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, workers.logs()
    await eventually(lambda: _health_worker(client), lambda w: w == "stopped", workers, 5)
    assert (await _status(client))["worker_status"] == "stopped"


async def test_a_job_of_a_killed_worker_is_requeued_and_completes(
    client: httpx.AsyncClient,
    conn: db.Conn,
    workers: Workers,
    short_stall: None,
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
    requeued = await db.fetch_one(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs"
        " WHERE task_name = 'maintenance.requeue_stalled' AND status = 'succeeded'",
    )
    assert requeued is not None and requeued["n"] >= 1

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=15) == 0, workers.logs()
