"""Tasks only test worker processes load (GATEWAY_EXTRA_TASK_MODULES=tests.worker_tasks), so the
shipped package carries no test code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.queue import app

QUEUE = "tests"


@app.task(name="tests.noop", queue=QUEUE)
async def noop() -> None:
    return None


@app.task(name="tests.block_until_released", queue=QUEUE)
async def block_until_released(started: str, release: str, done: str) -> None:
    """Stands for a job a worker is in the middle of: it records each start, then waits until
    the test creates `release` (a worker killed meanwhile leaves the job in `doing`)."""
    with Path(started).open("a") as marks:
        marks.write("started\n")
    while not Path(release).exists():
        await asyncio.sleep(0.1)
    Path(done).write_text("done\n")
