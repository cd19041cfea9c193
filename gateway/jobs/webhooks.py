"""deliver_webhook: first attempts of one transaction's events (`log_ids`, in order), or one
later attempt of one log (`log_id`, `generation`, `attempt`). The next attempt is a new job
scheduled in the same transaction that records this one, so the retry schedule survives any
worker crash."""

from __future__ import annotations

import uuid

from gateway import delivery, settings, webhook_logs
from gateway import queue as jobs_queue
from gateway.jobs import runtime
from gateway.queue import app


@app.task(name=jobs_queue.TASK_DELIVER_WEBHOOK, queue="webhooks")
async def deliver_webhook(
    log_id: str | None = None,
    generation: int = 0,
    attempt: int = 0,
    log_ids: list[str] | None = None,
) -> None:
    targets = [(i, 0, 0) for i in log_ids] if log_ids else [(log_id, generation, attempt)]
    for target_id, target_generation, target_attempt in targets:
        if target_id is not None:
            await _deliver(target_id, target_generation, target_attempt)


async def _deliver(log_id: str, generation: int, attempt: int) -> None:
    """One attempt of one log. Safe to run twice: a recorded attempt makes the job stale."""
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
