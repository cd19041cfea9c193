"""deliver_webhook: first attempts of one transaction's events (`log_ids`, in order), or one
later attempt of one log (`log_id`, `generation`, `attempt`). The task name and argument shapes
are fixed: jobs already queued must keep running."""

from __future__ import annotations

import uuid

from gateway import queue as jobs_queue
from gateway import settings
from gateway.jobs import runtime
from gateway.queue import app
from gateway.webhooks import attempts


@app.task(name=jobs_queue.TASK_DELIVER_WEBHOOK, queue="webhooks")
async def deliver_webhook(
    log_id: str | None = None,
    generation: int = 0,
    attempt: int = 0,
    log_ids: list[str] | None = None,
) -> None:
    targets = [(i, 0, 0) for i in log_ids] if log_ids else [(log_id, generation, attempt)]
    pool, http, config = await runtime.pool(), runtime.http(), settings.get()
    for target_id, target_generation, target_attempt in targets:
        if target_id is not None:
            await attempts.deliver(
                pool, http, uuid.UUID(target_id), target_generation, target_attempt, config
            )
