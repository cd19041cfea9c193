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


# A database error at a chosen point, not a race: the function procrastinate calls there is
# renamed away, then back once the launcher has seen the failure. The job-fetching loop's error
# ends procrastinate with status 1; the heartbeat's ends a side task, which stops it cleanly.
FAULTS = {
    "fetch": ("procrastinate_fetch_job_v2", "character varying[], bigint"),
    "heartbeat": ("procrastinate_update_heartbeat_v1", "bigint"),
}


@pytest.mark.parametrize("where", sorted(FAULTS))
async def test_a_worker_that_meets_a_database_error_starts_again_in_place_and_works(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, tmp_path: Path, where: str
) -> None:
    name, arguments = FAULTS[where]

    async def rename(old: str, new: str) -> None:
        await conn.execute(f"ALTER FUNCTION {old}({arguments}) RENAME TO {new}")

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = processes.spawn_worker(
            {"PGAPPNAME": APP, "GATEWAY_WORKER_HEARTBEAT_INTERVAL": "0.5"}, output=out
        )
    renamed = False
    try:

        async def registered() -> bool:
            row = await db.fetch_one(conn, "SELECT count(*) AS n FROM procrastinate_workers")
            return row is not None and row["n"] > 0

        await wait_until(registered, timeout=30, what="the worker registered")
        await rename(name, f"{name}_away")
        renamed = True
        await new_payment(client, auth)  # its job's NOTIFY wakes the fetching loop

        async def stopped() -> bool:
            return b"starting it again" in log.read_bytes()

        await wait_until(stopped, timeout=30, what="the worker to stop on the error")
        await rename(f"{name}_away", name)
        renamed = False
        assert worker.poll() is None  # the same process, started again in place
        payment = await new_payment(client, auth)

        async def processed() -> bool:
            r = await client.get(f"/api/v1/payments/{payment['id']}", headers=auth)
            return bool(r.json()["status"] != "pending")

        await wait_until(processed, timeout=30, what="the payment processed after the restart")
        assert worker.poll() is None
        assert log.read_bytes().count(b"starting it again") == 1
    finally:
        if renamed:
            await rename(f"{name}_away", name)
        processes.stop(worker)
