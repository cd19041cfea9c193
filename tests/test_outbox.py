"""The transactional outbox, for every state change after a payment's creation: a refund's
creation, a payment's processing, a refund's processing and the record of a delivery attempt.
Each writes its state change, its events, their delivery logs and the next job in one
transaction: when it commits all of them exist; when that transaction fails at any point after
its first write, none of them does.

Every merchant here has a webhook URL, so the delivery logs and delivery jobs exist to roll back.
A failure is made two ways:

- after the call: the domain call runs inside an outer `conn.transaction()` that then raises.
  Anything written on another connection (a job deferred through a pool of its own) survives.
- inside the call: a trigger on procrastinate_jobs refuses the insert of one named task on this
  connection only (a session setting), so the domain's own transaction (or its one statement)
  fails at that job, after the state change and the events were written. Anything committed
  before that point, or written outside that transaction, survives.

What survives is read from PostgreSQL: the merchant's payments, orders, refunds, events and
webhook logs, and every job inserted since the test's starting point (tests run one at a time
and nothing else inserts jobs meanwhile: no worker runs here)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from gateway import db, events, merchants, payments, refunds, settings
from gateway.webhooks import attempts
from tests import mock_receiver
from tests.helpers import new_payment, successful_payment

FAIL_SETTING = "gateway_test.fail_job"
INJECTED = "injected failure"
HOW = ["error_after_the_call", "error_inside_the_call"]


class Boom(Exception):
    """Raised by the test after the domain call, inside the outer transaction."""


@pytest.fixture(scope="module")
async def failing_job_trigger(database: str) -> AsyncIterator[None]:
    """A trigger that refuses the insert of a job whose task is named by this connection's
    FAIL_SETTING (unset elsewhere: every other connection is unaffected)."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as c:
        await c.execute(
            "CREATE OR REPLACE FUNCTION gateway_test_fail_job() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.task_name = current_setting('{FAIL_SETTING}', true) THEN"
            f"  RAISE EXCEPTION '{INJECTED}: % job refused', NEW.task_name;"
            " END IF; RETURN NEW; END $$"
        )
        await c.execute(
            "CREATE TRIGGER gateway_test_fail_job BEFORE INSERT ON procrastinate_jobs"
            " FOR EACH ROW EXECUTE FUNCTION gateway_test_fail_job()"
        )
        try:
            yield
        finally:
            await c.execute("DROP TRIGGER gateway_test_fail_job ON procrastinate_jobs")
            await c.execute("DROP FUNCTION gateway_test_fail_job()")


@pytest.fixture
async def hooked(
    conn: db.Conn, merchant: merchants.NewMerchant, failing_job_trigger: None
) -> AsyncIterator[merchants.NewMerchant]:
    """The test's merchant, with a webhook URL: every event gets a delivery log and a job."""
    await merchants.set_webhook_url(conn, merchant.id, mock_receiver.URL)
    yield merchant
    await mock_receiver.retire(conn, merchant.id)


async def _job_floor(conn: db.Conn) -> int:
    row = await db.fetch_one(conn, "SELECT coalesce(max(id), 0) AS n FROM procrastinate_jobs")
    assert row is not None
    return int(row["n"])


async def _state(conn: db.Conn, merchant_id: uuid.UUID, job_floor: int) -> dict[str, list[Any]]:
    """Everything the outbox writes for this merchant, and every job since `job_floor`."""
    m = {"m": merchant_id, "floor": job_floor}
    queries = {
        "payments": "SELECT id, status, error_code, amount_refunded, updated_at FROM payments"
        " WHERE merchant_id = %(m)s ORDER BY id",
        "orders": "SELECT id, status, updated_at FROM orders WHERE merchant_id = %(m)s ORDER BY id",
        "refunds": "SELECT id, status, processed_at FROM refunds"
        " WHERE merchant_id = %(m)s ORDER BY id",
        "events": "SELECT id, type, resource_id FROM events WHERE merchant_id = %(m)s ORDER BY id",
        "webhook_logs": "SELECT id, event_id, event, resource_id, status, attempts,"
        " last_attempt_at, next_retry_at, response_code, response_body FROM webhook_logs"
        " WHERE merchant_id = %(m)s ORDER BY id",
        "jobs": "SELECT id, task_name, queue_name, args, scheduled_at FROM procrastinate_jobs"
        " WHERE id > %(floor)s ORDER BY id",
    }
    return {name: await db.fetch_all(conn, query, m) for name, query in queries.items()}


def _added(before: list[Any], after: list[Any]) -> list[Any]:
    return [row for row in after if row not in before]


def _chain(error: BaseException | None) -> str:
    texts = []
    while error is not None:
        texts.append(str(error))
        error = error.__cause__ or error.__context__
    return " | ".join(texts)


async def _fails(conn: db.Conn, how: str, task: str, call: Callable[[], Awaitable[object]]) -> None:
    """Run `call` so that its writes fail `how`; `task` is the job whose insert is refused."""
    if how == "error_after_the_call":
        with pytest.raises(Boom):
            async with conn.transaction():
                await call()
                raise Boom
        return
    await conn.execute(
        "SELECT set_config(%(name)s, %(task)s, false)", {"name": FAIL_SETTING, "task": task}
    )
    try:
        # Whatever type the error reaches us as, its text names the refused job.
        with pytest.raises(Exception) as caught:
            await call()
    finally:
        await conn.execute("SELECT set_config(%(name)s, '', false)", {"name": FAIL_SETTING})
    assert f"{INJECTED}: {task} job refused" in _chain(caught.value), _chain(caught.value)


def _jobs(state: dict[str, list[Any]], task: str) -> list[Any]:
    return [job for job in state["jobs"] if job["task_name"] == task]


# Refund creation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "task"),
    [
        ("error_after_the_call", ""),
        # The refund's delivery job (written with its events) and the processing job (last).
        ("error_inside_the_call", "deliver_webhook"),
        ("error_inside_the_call", "process_refund"),
    ],
)
async def test_a_refund_creation_that_fails_leaves_no_refund_event_log_or_job(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
    how: str,
    task: str,
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)
    assert before["jobs"] == []

    await _fails(
        conn,
        how,
        task,
        lambda: refunds.create(conn, hooked.id, p["id"], amount=1500, reason="x", config=config),
    )

    assert await _state(conn, hooked.id, floor) == before
    # The money the failed refund held back is available again, to the paisa.
    again = await refunds.create(conn, hooked.id, p["id"], amount=50000, reason=None, config=config)
    assert again.amount == 50000


async def test_a_refund_creation_commits_its_refund_event_log_and_both_jobs_together(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
) -> None:
    p = await successful_payment(client, auth, conn, config, amount=50000)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)

    refund = await refunds.create(conn, hooked.id, p["id"], amount=1500, reason="x", config=config)

    after = await _state(conn, hooked.id, floor)
    assert [(r["id"], r["status"]) for r in _added(before["refunds"], after["refunds"])] == [
        (refund.id, "pending")
    ]
    [payment] = [row for row in after["payments"] if row["id"] == p["id"]]
    assert payment["amount_refunded"] == 1500
    [event] = _added(before["events"], after["events"])
    assert (event["type"], event["resource_id"]) == ("refund.created", refund.id)
    [log] = _added(before["webhook_logs"], after["webhook_logs"])
    assert (log["event_id"], log["status"], log["attempts"]) == (event["id"], "pending", 0)
    [process] = _jobs(after, "process_refund")
    assert process["args"] == {"refund_id": refund.id}
    [deliver] = _jobs(after, "deliver_webhook")
    assert deliver["args"] == {"log_ids": [str(log["id"])]}
    assert len(after["jobs"]) == 2


# Payment processing ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
async def test_payment_processing_that_fails_leaves_it_pending_with_no_event_log_or_job(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
    how: str,
) -> None:
    p = await new_payment(client, auth)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)
    assert [row["status"] for row in before["payments"]] == ["pending"]
    assert [row["status"] for row in before["orders"]] == ["created"]

    await _fails(conn, how, "deliver_webhook", lambda: payments.process(conn, p["id"], config))

    assert await _state(conn, hooked.id, floor) == before
    # Nothing was half-done: the job's retry processes the payment as if for the first time.
    retried = await payments.process(conn, p["id"], config)
    assert retried is not None and retried.status == "success"


async def test_payment_processing_commits_the_outcome_order_event_log_and_job_together(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
) -> None:
    p = await new_payment(client, auth)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)

    processed = await payments.process(conn, p["id"], config)

    assert processed is not None and processed.status == "success"
    after = await _state(conn, hooked.id, floor)
    assert [row["status"] for row in after["payments"]] == ["success"]
    assert [row["status"] for row in after["orders"]] == ["paid"]
    [event] = _added(before["events"], after["events"])
    assert (event["type"], event["resource_id"]) == ("payment.success", p["id"])
    [log] = _added(before["webhook_logs"], after["webhook_logs"])
    assert (log["event_id"], log["status"]) == (event["id"], "pending")
    [deliver] = after["jobs"]
    assert deliver["task_name"] == "deliver_webhook"
    assert deliver["args"] == {"log_ids": [str(log["id"])]}


# Refund processing -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
async def test_refund_processing_that_fails_leaves_it_pending_with_no_event_log_or_job(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
    how: str,
) -> None:
    p = await successful_payment(client, auth, conn, config)
    refund = await refunds.create(conn, hooked.id, p["id"], amount=700, reason=None, config=config)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)

    await _fails(conn, how, "deliver_webhook", lambda: refunds.process(conn, refund.id))

    assert await _state(conn, hooked.id, floor) == before
    [row] = before["refunds"]
    assert (row["status"], row["processed_at"]) == ("pending", None)
    retried = await refunds.process(conn, refund.id)
    assert retried is not None and retried.status == "processed"


async def test_refund_processing_commits_the_outcome_event_log_and_job_together(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
) -> None:
    p = await successful_payment(client, auth, conn, config)
    refund = await refunds.create(conn, hooked.id, p["id"], amount=700, reason=None, config=config)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)

    await refunds.process(conn, refund.id)

    after = await _state(conn, hooked.id, floor)
    [row] = after["refunds"]
    assert row["status"] == "processed" and row["processed_at"] is not None
    [event] = _added(before["events"], after["events"])
    assert (event["type"], event["resource_id"]) == ("refund.processed", refund.id)
    [log] = _added(before["webhook_logs"], after["webhook_logs"])
    assert log["event_id"] == event["id"]
    [deliver] = after["jobs"]
    assert deliver["args"] == {"log_ids": [str(log["id"])]}


# Recording a delivery attempt --------------------------------------------------------------------

FAILED = attempts.Outcome(ok=False, status_code=500, body="boom")


async def _claimed(
    conn: db.Conn, merchant: merchants.NewMerchant, config: settings.Settings
) -> attempts.Claim:
    """The first attempt of a webhook.test delivery, claimed as a worker claims it."""
    event = await events.send_test(conn, merchant.id, mock_receiver.URL)
    assert event.webhook_log_id is not None
    claim = await attempts.claim(conn, event.webhook_log_id, 0, 0, config)
    assert isinstance(claim, attempts.Claim)
    return claim


@pytest.mark.parametrize("how", HOW)
async def test_recording_an_attempt_that_fails_leaves_the_log_as_it_was_and_no_next_job(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
    how: str,
) -> None:
    claim = await _claimed(conn, hooked, config)
    floor = await _job_floor(conn)
    before = await _state(conn, hooked.id, floor)

    await _fails(conn, how, "deliver_webhook", lambda: attempts.record(conn, claim, FAILED, config))

    assert await _state(conn, hooked.id, floor) == before
    [log] = before["webhook_logs"]
    assert (log["attempts"], log["last_attempt_at"], log["response_code"]) == (0, None, None)
    # The attempt is still the first one: once the lease runs out it is claimed and recorded.
    await conn.execute(
        "UPDATE webhook_logs SET delivering_until = now() - interval '1 second' WHERE id = %(id)s",
        {"id": claim.log_id},
    )
    again = await attempts.claim(conn, claim.log_id, 0, 0, config)
    assert isinstance(again, attempts.Claim)
    assert await attempts.record(conn, again, FAILED, config) == "pending"


async def test_recording_an_attempt_commits_the_result_and_the_next_attempts_job_together(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    hooked: merchants.NewMerchant,
) -> None:
    claim = await _claimed(conn, hooked, config)
    floor = await _job_floor(conn)

    assert await attempts.record(conn, claim, FAILED, config) == "pending"

    after = await _state(conn, hooked.id, floor)
    [log] = after["webhook_logs"]
    assert (log["status"], log["attempts"], log["response_code"], log["response_body"]) == (
        "pending",
        1,
        500,
        "boom",
    )
    assert log["last_attempt_at"] is not None and log["next_retry_at"] is not None
    [job] = after["jobs"]
    assert job["task_name"] == "deliver_webhook" and job["queue_name"] == "webhooks"
    assert job["args"] == {"log_id": str(claim.log_id), "generation": 0, "attempt": 1}
    assert job["scheduled_at"] == log["next_retry_at"]
