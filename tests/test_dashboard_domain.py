"""Domain functions the dashboard reads through: login rule, payment stats, test webhook."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway import db, errors, events, merchants, payments, settings
from tests.helpers import new_merchant, new_payment

PASSWORD = "s3cret-pass"


async def _with_password(conn: db.Conn) -> merchants.Merchant:
    return await new_merchant(conn, name="Login", password=PASSWORD)


@pytest.mark.parametrize("demo_mode", [True, False])
async def test_merchant_with_password_logs_in_only_with_it(conn: db.Conn, demo_mode: bool) -> None:
    m = await _with_password(conn)
    ok = await merchants.check_login(conn, m.email.upper(), "s3cret-pass", demo_mode=demo_mode)
    assert ok is not None and ok.id == m.id
    assert await merchants.check_login(conn, m.email, "wrong", demo_mode=demo_mode) is None
    assert await merchants.check_login(conn, m.email, "", demo_mode=demo_mode) is None


async def test_unknown_email_is_refused(conn: db.Conn) -> None:
    assert await merchants.check_login(conn, "nobody@example.com", "x", demo_mode=True) is None
    assert await merchants.check_login(conn, "", "x", demo_mode=True) is None


async def test_test_merchant_takes_any_password_only_in_demo_mode(conn: db.Conn) -> None:
    email = merchants.TEST_MERCHANT_EMAIL
    demo = await merchants.check_login(conn, email, "anything at all", demo_mode=True)
    assert demo is not None and demo.id == merchants.TEST_MERCHANT_ID
    assert await merchants.check_login(conn, email, "anything at all", demo_mode=False) is None


async def test_inactive_merchant_is_refused(conn: db.Conn) -> None:
    m = await _with_password(conn)
    await conn.execute("UPDATE merchants SET is_active = false WHERE id = %(id)s", {"id": m.id})
    assert await merchants.check_login(conn, m.email, "s3cret-pass", demo_mode=True) is None


@pytest.mark.parametrize(
    ("total", "successful", "rate"), [(0, 0, 0), (3, 1, 33), (3, 2, 67), (2, 1, 50), (8, 8, 100)]
)
def test_success_rate_is_whole_percent_rounded_half_up(
    total: int, successful: int, rate: int
) -> None:
    assert payments.Stats(total, successful, 0).success_rate == rate


async def test_stats_count_all_payments_and_sum_successful_ones(
    client: httpx.AsyncClient,
    conn: db.Conn,
    auth: dict[str, str],
    merchant: merchants.Merchant,
    config: settings.Settings,
) -> None:
    ok1 = await new_payment(client, auth, amount=50000)
    ok2 = await new_payment(client, auth, amount=123450, method="card")
    failed = await new_payment(client, auth, amount=70000)
    await new_payment(client, auth, amount=90000)  # stays pending
    await payments.process(conn, ok1["id"], config)
    await payments.process(conn, ok2["id"], config)
    await payments.process(
        conn, failed["id"], config.model_copy(update={"test_payment_success": False})
    )
    stats = await payments.stats(conn, merchant.id)
    assert stats == payments.Stats(total=4, successful=2, successful_amount=173450)
    assert stats.success_rate == 50
    assert await payments.stats(conn, uuid.uuid4()) == payments.Stats(0, 0, 0)


async def test_send_test_needs_a_url_and_goes_through_the_outbox(
    conn: db.Conn, merchant: merchants.Merchant
) -> None:
    with pytest.raises(errors.BadRequest):
        await events.send_test(conn, merchant.id, None)
    m = await merchants.set_webhook_url(conn, merchant.id, "http://127.0.0.1:9/hook")
    event = await events.send_test(conn, m.id, m.webhook_url)
    assert event.type == "webhook.test" and event.webhook_log_id is not None
    # The outbox, committed: the event row, its pending delivery log and the job that delivers
    # it, exactly as for a real event.
    row = await db.fetch_one(
        conn,
        "SELECT e.type, l.event, l.status, l.event_id FROM events e"
        " JOIN webhook_logs l ON l.id = %(log)s WHERE e.id = %(event)s",
        {"log": event.webhook_log_id, "event": event.id},
    )
    assert row == {
        "type": "webhook.test",
        "event": "webhook.test",
        "status": "pending",
        "event_id": event.id,
    }
    jobs = await db.fetch_all(
        conn,
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'deliver_webhook'"
        " AND args->'log_ids' ? %(log)s",
        {"log": str(event.webhook_log_id)},
    )
    assert jobs == [{"args": {"log_ids": [str(event.webhook_log_id)]}}]


async def test_a_payments_deliveries_are_its_own_and_its_refunds_newest_first(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    from gateway import refunds
    from gateway.webhooks import deliveries

    await client.put("/api/v1/webhooks/config", json={"url": "http://127.0.0.1:9/h"}, headers=auth)
    mine = await new_payment(client, auth)
    other = await new_payment(client, auth)  # same merchant, another payment
    merchant_id = (await payments.get_public(conn, mine["id"])).merchant_id
    for p in (mine, other):
        await payments.process(conn, p["id"], config)
    refund = await refunds.create(
        conn, merchant_id, mine["id"], amount=100, reason=None, config=config
    )
    shown = await deliveries.for_payment(conn, merchant_id, mine["id"], limit=50)
    assert {d.resource_id for d in shown} == {mine["id"], refund.id}
    assert [d.event for d in shown] == [
        "refund.created",
        "payment.success",
        "payment.pending",
        "payment.created",
    ]
    assert await deliveries.for_payment(conn, uuid.uuid4(), mine["id"], limit=50) == []
