"""Pruning finished jobs: maintenance jobs go after an hour, others after a week."""

from __future__ import annotations

from collections.abc import AsyncIterator

import procrastinate
import pytest

from gateway import db, queue
from gateway.jobs import maintenance


@pytest.fixture
async def job_manager(database_url: str) -> AsyncIterator[None]:
    """The maintenance tasks go through queue.app's job manager. In the test process the first
    API app to start opens queue.app on its own pool, which is closed when that app stops: which
    app that was depends on the order the tests ran in. The test gives queue.app a connector of
    its own instead."""
    connector = procrastinate.PsycopgConnector(conninfo=database_url)
    with queue.app.replace_connector(connector):
        await connector.open_async()
        try:
            yield
        finally:
            await connector.close_async()


async def _finished_job(conn: db.Conn, queue: str, hours_ago: int) -> int:
    row = await db.fetch_one(
        conn,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
        " VALUES (%(q)s, 'test.prune', '{}', 'succeeded') RETURNING id",
        {"q": queue},
    )
    assert row is not None
    await conn.execute(
        "INSERT INTO procrastinate_events (job_id, type, at)"
        " VALUES (%(id)s, 'succeeded', now() - make_interval(hours => %(h)s))",
        {"id": row["id"], "h": hours_ago},
    )
    await conn.execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(hours => %(h)s)"
        " WHERE job_id = %(id)s",
        {"id": row["id"], "h": hours_ago},
    )
    job_id: int = row["id"]
    return job_id


async def test_prune_drops_old_maintenance_jobs_but_keeps_recent_work(
    job_manager: None, conn: db.Conn
) -> None:
    old_maintenance = await _finished_job(conn, "maintenance", 2)
    old_payment = await _finished_job(conn, "payments", 2)
    ancient_payment = await _finished_job(conn, "payments", 24 * 8)
    await maintenance.prune_jobs(timestamp=0)
    rows = await db.fetch_all(
        conn,
        "SELECT id FROM procrastinate_jobs WHERE id = ANY(%(ids)s)",
        {"ids": [old_maintenance, old_payment, ancient_payment]},
    )
    assert {r["id"] for r in rows} == {old_payment}
