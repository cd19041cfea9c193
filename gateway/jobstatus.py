"""Job counts and worker liveness, read from procrastinate's own tables."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gateway import db, settings


@dataclass(frozen=True)
class JobStatus:
    pending: int
    processing: int
    completed: int
    failed: int
    worker_status: str

    def out(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def worker_status(conn: db.Conn, config: settings.Settings) -> str:
    """`running` when some worker sent a heartbeat recently (procrastinate_workers)."""
    row = await db.fetch_one(
        conn,
        "SELECT count(*) AS n FROM procrastinate_workers"
        " WHERE last_heartbeat > now() - make_interval(secs => %(s)s)",
        {"s": config.stalled_worker_seconds},
    )
    return "running" if row and row["n"] > 0 else "stopped"


async def counts(conn: db.Conn, config: settings.Settings) -> JobStatus:
    # Straight from procrastinate's table, as the contract asks: a scan of the jobs kept (the
    # worker prunes finished ones after a week). Only the demo's test endpoint asks for it.
    rows = await db.fetch_all(
        conn, "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs GROUP BY 1"
    )
    by_status = {r["status"]: int(r["n"]) for r in rows}
    return JobStatus(
        pending=by_status.get("todo", 0),
        processing=by_status.get("doing", 0),
        completed=by_status.get("succeeded", 0),
        failed=by_status.get("failed", 0),
        worker_status=await worker_status(conn, config),
    )
