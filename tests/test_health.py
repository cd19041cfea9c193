"""/health answers from a snapshot of its checks at most health_max_age_seconds old, refreshed
by one request at a time: the database sees one health query per process per interval however
hard load balancers poll, and the answer is never older than the bound."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import db, jobstatus, settings
from gateway.api import health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the database part of the check ran."""
    ran: list[int] = []
    real = jobstatus.worker_status

    async def counting(conn: db.Conn, config: settings.Settings) -> str:
        ran.append(1)
        await asyncio.sleep(0.05)  # a check that takes a while: callers arrive meanwhile
        return await real(conn, config)

    monkeypatch.setattr(jobstatus, "worker_status", counting)
    return ran


async def test_one_check_serves_every_caller_until_the_snapshot_is_too_old(
    api: Any, config: settings.Settings, checks: list[int]
) -> None:
    clock = Clock()
    probe = health.Probe(api.state.pool, api.state.redis, config, clock=clock)
    first = await asyncio.gather(*(probe.snapshot() for _ in range(20)))
    assert len(checks) == 1 and len({id(s) for s in first}) == 1  # one refresh, shared
    clock.now += config.health_max_age_seconds - 0.01
    await probe.snapshot()
    assert len(checks) == 1
    clock.now += 0.02  # past the bound: the next caller refreshes
    await probe.snapshot()
    assert len(checks) == 2


async def test_a_database_outage_shows_within_the_bound(
    api: Any, config: settings.Settings
) -> None:
    clock = Clock()
    down = config.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/x"})
    pool = db.open_pool(down.database_url, min_size=1, max_size=1, timeout=0.5)
    await pool.open(wait=False)
    try:
        probe = health.Probe(pool, api.state.redis, down, clock=clock)
        status, _ = (await probe.snapshot()).answer()
        assert status == 503
    finally:
        await pool.close()
