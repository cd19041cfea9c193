"""The webhook retry schedule where it is computed (contract §6). Recording a failed attempt
stores its `last_attempt_at` and, in the same transaction, defers the next attempt's job at
`next_retry_at`; the schedule is the gap between the two, read from stored timestamps, never
from a stopwatch. Attempts are made one after another with `attempts.deliver` (claim, send,
record) against a receiver that answers what each test needs, without waiting for the jobs'
times: the time of an attempt is the job table's business, what is asserted here is what was
written into it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway import db, events, merchants, settings
from gateway.webhooks import attempts
from tests import mock_receiver

# Delay before attempts 2..5, in seconds.
PRODUCTION = (60, 300, 1800, 7200)  # 1 min, 5 min, 30 min, 2 h
TEST_TABLE = (5, 10, 15, 20)  # WEBHOOK_RETRY_INTERVALS_TEST=true


@pytest.fixture
async def pool(database: str) -> AsyncIterator[db.Pool]:
    p = db.open_pool(database, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


@pytest.fixture
async def log_id(conn: db.Conn, merchant: merchants.NewMerchant) -> AsyncIterator[uuid.UUID]:
    """The delivery log of one committed webhook.test event, no attempt made yet."""
    await merchants.set_webhook_url(conn, merchant.id, mock_receiver.URL)
    event = await events.send_test(conn, merchant.id, mock_receiver.URL)
    assert event.webhook_log_id is not None
    yield event.webhook_log_id
    await mock_receiver.retire(conn, merchant.id)


@pytest.fixture
def production(config: settings.Settings) -> settings.Settings:
    return config.model_copy(update={"webhook_retry_intervals_test": False})


async def _log(conn: db.Conn, log_id: uuid.UUID) -> dict[str, Any]:
    row = await db.fetch_one(
        conn,
        "SELECT status, attempts, last_attempt_at, next_retry_at, response_code"
        " FROM webhook_logs WHERE id = %(id)s",
        {"id": log_id},
    )
    assert row is not None
    return row


async def _retry_jobs(conn: db.Conn, log_id: uuid.UUID) -> list[dict[str, Any]]:
    """The jobs of later attempts of this log, oldest first (the first attempt's job names the
    log in `log_ids`)."""
    return await db.fetch_all(
        conn,
        "SELECT queue_name, args, scheduled_at, status::text AS status FROM procrastinate_jobs"
        " WHERE task_name = 'deliver_webhook' AND args->>'log_id' = %(id)s ORDER BY id",
        {"id": str(log_id)},
    )


def _answering(*statuses: int) -> mock_receiver.Receiver:
    """A receiver answering these statuses in turn (the last one from then on)."""
    answers = list(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0) if len(answers) > 1 else answers[0], text="down")

    return mock_receiver.Receiver(answer)


@pytest.mark.parametrize(
    ("intervals_test", "gaps"),
    [(False, PRODUCTION), (True, TEST_TABLE)],
    ids=["production-1m-5m-30m-2h", "test-5s-10s-15s-20s"],
)
async def test_each_failed_attempt_schedules_the_next_after_the_tables_delay_until_the_fifth(
    conn: db.Conn,
    pool: db.Pool,
    log_id: uuid.UUID,
    config: settings.Settings,
    intervals_test: bool,
    gaps: tuple[int, ...],
) -> None:
    config = config.model_copy(update={"webhook_retry_intervals_test": intervals_test})
    receiver = _answering(500)
    async with mock_receiver.client(receiver) as http:
        for attempt in range(4):
            status = await attempts.deliver(pool, http, log_id, 0, attempt, config)
            log = await _log(conn, log_id)
            jobs = await _retry_jobs(conn, log_id)
            assert status == log["status"] == "pending"
            assert (log["attempts"], log["response_code"]) == (attempt + 1, 500)
            assert len(jobs) == attempt + 1, "one new job per recorded failure"
            job = jobs[-1]
            assert job["args"] == {"log_id": str(log_id), "generation": 0, "attempt": attempt + 1}
            assert (job["queue_name"], job["status"]) == ("webhooks", "todo")
            assert job["scheduled_at"] - log["last_attempt_at"] == dt.timedelta(
                seconds=gaps[attempt]
            )
            assert log["next_retry_at"] == job["scheduled_at"]
            # A second run of the job just recorded (at-least-once delivery) finds it stale:
            # nothing is sent and nothing is scheduled.
            assert await attempts.deliver(pool, http, log_id, 0, attempt, config) is None
            assert len(receiver.requests) == attempt + 1
            assert len(await _retry_jobs(conn, log_id)) == attempt + 1

        assert await attempts.deliver(pool, http, log_id, 0, 4, config) == "failed"
    log = await _log(conn, log_id)
    assert (log["status"], log["attempts"], log["next_retry_at"]) == ("failed", 5, None)
    assert len(await _retry_jobs(conn, log_id)) == 4, "no job after the fifth failure"
    assert len(receiver.requests) == attempts.MAX_ATTEMPTS == 5


@pytest.mark.parametrize("earlier_failures", [0, 2])
async def test_a_410_gone_ends_the_delivery_at_once(
    conn: db.Conn,
    pool: db.Pool,
    log_id: uuid.UUID,
    production: settings.Settings,
    earlier_failures: int,
) -> None:
    receiver = _answering(*([500] * earlier_failures), 410)
    async with mock_receiver.client(receiver) as http:
        for attempt in range(earlier_failures):
            assert await attempts.deliver(pool, http, log_id, 0, attempt, production) == "pending"
        status = await attempts.deliver(pool, http, log_id, 0, earlier_failures, production)
    log = await _log(conn, log_id)
    assert status == log["status"] == "failed"
    assert (log["attempts"], log["response_code"]) == (earlier_failures + 1, 410)
    assert log["next_retry_at"] is None and log["last_attempt_at"] is not None
    assert len(await _retry_jobs(conn, log_id)) == earlier_failures, "a 410 schedules nothing"


@pytest.mark.parametrize(("code", "earlier_failures"), [(200, 0), (201, 0), (204, 0), (299, 3)])
async def test_a_2xx_ends_the_delivery_as_success(
    conn: db.Conn,
    pool: db.Pool,
    log_id: uuid.UUID,
    production: settings.Settings,
    code: int,
    earlier_failures: int,
) -> None:
    receiver = _answering(*([503] * earlier_failures), code)
    async with mock_receiver.client(receiver) as http:
        for attempt in range(earlier_failures):
            assert await attempts.deliver(pool, http, log_id, 0, attempt, production) == "pending"
        status = await attempts.deliver(pool, http, log_id, 0, earlier_failures, production)
    log = await _log(conn, log_id)
    assert status == log["status"] == "success"
    assert (log["attempts"], log["response_code"]) == (earlier_failures + 1, code)
    assert log["next_retry_at"] is None
    assert len(await _retry_jobs(conn, log_id)) == earlier_failures, "a success schedules nothing"


@pytest.mark.parametrize("code", [100, 199, 300, 302, 304, 400, 401, 404, 409, 429, 500, 503])
async def test_any_other_answer_is_a_failure_retried_after_a_minute(
    conn: db.Conn, pool: db.Pool, log_id: uuid.UUID, production: settings.Settings, code: int
) -> None:
    async with mock_receiver.client(_answering(code)) as http:
        assert await attempts.deliver(pool, http, log_id, 0, 0, production) == "pending"
    log = await _log(conn, log_id)
    assert (log["attempts"], log["response_code"]) == (1, code)
    [job] = await _retry_jobs(conn, log_id)
    assert job["scheduled_at"] - log["last_attempt_at"] == dt.timedelta(minutes=1)
