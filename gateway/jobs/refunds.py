"""process_refund: runs at created_at + 3-5 s (a scheduled job, not a sleeping worker)."""

from __future__ import annotations

from gateway import queue as jobs_queue
from gateway import refunds
from gateway.jobs import runtime
from gateway.queue import app


@app.task(name=jobs_queue.TASK_PROCESS_REFUND, queue="refunds", retry=5)
async def process_refund(refund_id: str) -> None:
    async with (await runtime.pool()).connection() as conn:
        await refunds.process(conn, refund_id)
