"""process_payment: runs at created_at + delay (a scheduled job, not a sleeping worker)."""

from __future__ import annotations

from gateway import payments, settings
from gateway import queue as jobs_queue
from gateway.jobs import runtime
from gateway.queue import app


@app.task(name=jobs_queue.TASK_PROCESS_PAYMENT, queue="payments", retry=5)
async def process_payment(payment_id: str) -> None:
    async with (await runtime.pool()).connection() as conn:
        await payments.process(conn, payment_id, settings.get())
