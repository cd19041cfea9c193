"""The procrastinate App. It imports no task: the domain defers jobs by task name through
`defer`, in the caller's own transaction (the transactional outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import procrastinate
import psycopg_pool

from gateway import db, settings

_settings = settings.get()


def _pool(**kwargs: Any) -> psycopg_pool.AsyncConnectionPool[Any]:
    # procrastinate pings every connection it checks out (SELECT 1 before each fetch and each
    # finish); db.check costs no round trip unless the server has dropped the connection.
    return psycopg_pool.AsyncConnectionPool(**{**kwargs, "check": db.check})


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=_settings.database_url,
        min_size=1,
        max_size=max(4, _settings.worker_concurrency // 4 + 2),
        pool_factory=_pool,
    ),
    import_paths=[
        "gateway.jobs.payments",
        "gateway.jobs.refunds",
        "gateway.jobs.webhooks",
        "gateway.jobs.maintenance",
        *_settings.extra_task_module_list,
    ],
    worker_defaults={
        "concurrency": _settings.worker_concurrency,
        # Scheduled jobs are found by polling (NOTIFY only fires at insert time).
        "fetch_job_polling_interval": _settings.worker_polling_interval,
        "update_heartbeat_interval": _settings.worker_heartbeat_interval,
        "stalled_worker_timeout": _settings.stalled_worker_seconds,
        "delete_jobs": "never",
    },
    periodic_defaults={"max_delay": 60},
)

TASK_PROCESS_PAYMENT = "process_payment"
TASK_PROCESS_REFUND = "process_refund"
TASK_DELIVER_WEBHOOK = "deliver_webhook"


# Each task's queue; deferring by name must use the same one the task declares.
QUEUES = {
    TASK_PROCESS_PAYMENT: "payments",
    TASK_PROCESS_REFUND: "refunds",
    TASK_DELIVER_WEBHOOK: "webhooks",
}


# The row procrastinate's own procrastinate_defer_jobs_v1 inserts (db/migrations/0001), written
# directly: the same columns and defaults, so procrastinate's worker and its triggers see no
# difference, at a fraction of the client-side cost of building a deferrer per job. The
# one-statement payment paths insert the same row inside their CTEs.
_DEFER = (
    "INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)"
    " VALUES (%(queue)s, %(task)s, %(args)s, %(at)s) RETURNING id"
)


async def defer(
    conn: db.Conn,
    task_name: str,
    *,
    schedule_at: dt.datetime | None = None,
    queue: str | None = None,
    **task_kwargs: Any,
) -> int:
    """Insert a job row on `conn` (inside its open transaction): it exists iff that commits."""
    row = await db.fetch_one(
        conn,
        _DEFER,
        {
            "queue": queue or QUEUES.get(task_name, "default"),
            "task": task_name,
            "args": db.jsonb(task_kwargs),
            "at": schedule_at,
        },
    )
    if row is None:  # an INSERT ... RETURNING always returns its row
        raise RuntimeError("job insert returned no row")
    job_id: int = row["id"]
    return job_id
