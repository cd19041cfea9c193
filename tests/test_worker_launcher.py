"""The worker's launcher (gateway/jobs/__main__.py): procrastinate's command line, started again
in the same process when it ends on a database error, and given up on when every start fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway import db
from tests import processes
from tests.helpers import new_payment, wait_until

pytestmark = pytest.mark.e2e

APP = "launcher-test-worker"


def _launch(
    env: dict[str, str], app: str = "gateway.queue.app"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.jobs", f"--app={app}", "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_worker_that_fails_at_every_start_gives_up_with_one_line() -> None:
    # A task module that does not import fails procrastinate's start at once (status 1); with
    # four quick failures already behind it, this one is the last. (A database that does not
    # answer is waited for, its pool's 30 s at a time, and never given up on.)
    done = _launch(
        {"GATEWAY_EXTRA_TASK_MODULES": "tests.no_such_tasks", "GATEWAY_WORKER_QUICK_FAILURES": "4"}
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "gateway: the worker failed at every start; giving up"
    )


def test_a_bad_command_line_is_not_started_again() -> None:
    done = _launch({}, app="no_such_module.app")
    assert done.returncode == 2  # procrastinate's own answer to a bad --app
    assert "starting it again" not in done.stderr


async def test_a_worker_whose_connections_are_cut_starts_again_in_place_and_works(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = processes.spawn_worker({"PGAPPNAME": APP}, output=out)
    try:

        async def backends() -> set[int]:
            rows = await db.fetch_all(
                conn,
                "SELECT pid FROM pg_stat_activity WHERE application_name = %(app)s",
                {"app": APP},
            )
            return {r["pid"] for r in rows}

        await wait_until(backends, timeout=30, what="the worker's connections")

        # Jobs falling due while every connection of the worker is cut, again and again, until
        # one of its loops meets the error mid-query and procrastinate ends.
        for _ in range(20):
            await new_payment(client, auth)

        async def restarted() -> bool:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %(app)s",
                {"app": APP},
            )
            return b"starting it again" in log.read_bytes()

        await wait_until(restarted, timeout=60, step=0.01, what="the worker to stop on an error")
        assert worker.poll() is None  # the same process, started again in place
        payment = await new_payment(client, auth)

        async def processed() -> bool:
            r = await client.get(f"/api/v1/payments/{payment['id']}", headers=auth)
            return bool(r.json()["status"] != "pending")

        await wait_until(processed, timeout=30, what="the payment processed after the restart")
        assert worker.poll() is None
    finally:
        processes.stop(worker)
