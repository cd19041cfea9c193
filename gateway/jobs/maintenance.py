"""Periodic housekeeping: re-queue jobs of dead workers, prune old finished jobs, delete expired
idempotency keys."""

from __future__ import annotations

import logging

from gateway import idempotency, settings
from gateway.jobs import runtime
from gateway.queue import app

log = logging.getLogger("gateway.jobs.maintenance")


async def requeue_stalled(seconds_since_heartbeat: float) -> int:
    """A worker killed with SIGKILL leaves its jobs in `doing`; procrastinate does not take them
    back by itself. Jobs of workers silent for longer than the timeout go back to `todo`."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    )
    for job in stalled:
        await app.job_manager.retry_job(job)
    if stalled:
        log.warning("re-queued %d stalled job(s)", len(stalled))
    # Workers that stopped heartbeating are dropped so /health reflects live ones only.
    await app.job_manager.prune_stalled_workers(seconds_since_heartbeat)
    return len(stalled)


@app.periodic(cron="* * * * * */5", periodic_id="requeue_stalled")
@app.task(name="maintenance.requeue_stalled", queue="maintenance", queueing_lock="requeue_stalled")
async def requeue_stalled_task(timestamp: int) -> None:
    await requeue_stalled(settings.get().stalled_worker_seconds)


@app.periodic(cron="17 * * * *", periodic_id="prune_jobs")
@app.task(
    name="maintenance.prune_jobs",
    queue="maintenance",
    queueing_lock="prune_jobs",
)
async def prune_jobs(timestamp: int) -> None:
    """Finished jobs older than a week go; failed ones are kept for inspection for 30 days."""
    # requeue_stalled alone finishes 720 jobs an hour; they are worth nothing once done.
    await app.job_manager.delete_old_jobs(nb_hours=1, queue="maintenance")
    await app.job_manager.delete_old_jobs(nb_hours=24 * 7)
    await app.job_manager.delete_old_jobs(nb_hours=24 * 30, include_failed=True)


@app.periodic(cron="*/10 * * * *", periodic_id="purge_idempotency_keys")
@app.task(
    name="maintenance.purge_idempotency_keys",
    queue="maintenance",
    queueing_lock="purge_idempotency_keys",
)
async def purge_idempotency_keys(timestamp: int) -> None:
    """An expired key already behaves as new; this only keeps the table small."""
    async with (await runtime.pool()).connection() as conn:
        deleted = await idempotency.purge_expired(conn)
    if deleted:
        log.info("deleted %d expired idempotency key(s)", deleted)
