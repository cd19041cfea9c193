"""deliver_webhook: one attempt per job; the next attempt is a new job scheduled in the same
transaction that records this one, so the retry schedule survives any worker crash."""

from __future__ import annotations

import uuid

from gateway import delivery, settings, webhook_logs
from gateway import queue as jobs_queue
from gateway.jobs import runtime
from gateway.queue import app


@app.task(name=jobs_queue.TASK_DELIVER_WEBHOOK, queue="webhooks")
async def deliver_webhook(log_id: str, generation: int, attempt: int) -> None:
    config = settings.get()
    pool = await runtime.pool()
    async with pool.connection() as conn:
        claim = await webhook_logs.claim(conn, uuid.UUID(log_id), generation, attempt)
        if isinstance(claim, webhook_logs.Busy):
            # Another run of this log is mid-flight (a manual retry met a live attempt):
            # come back when its lease ends rather than deliver twice at once.
            await jobs_queue.defer(
                conn,
                jobs_queue.TASK_DELIVER_WEBHOOK,
                schedule_at=claim.until,
                log_id=log_id,
                generation=generation,
                attempt=attempt,
            )
            return
    if claim is None:
        return
    outcome = await delivery.attempt(
        runtime.http(), claim, allow_private=config.private_webhook_urls_allowed
    )
    async with pool.connection() as conn:
        await webhook_logs.record(conn, claim, outcome, config)
