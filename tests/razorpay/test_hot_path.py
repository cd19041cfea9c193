"""The Razorpay format costs a classic merchant nothing: creating and processing a payment stay
one statement each, in autocommit (no BEGIN/COMMIT), as issue 12 made them. Only a
Razorpay-hooked merchant's processing takes a transaction, which commits its events with the
state change."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from gateway import db, instruments, merchants, orders, payments, settings
from tests.conftest import DATABASE_URL


class Counting(psycopg.AsyncConnection[db.Row]):
    """A real connection that records the statements sent through it and the transactions
    opened on it."""

    statements: list[str]
    transactions: int

    async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(str(query))
        return await super().execute(query, *args, **kwargs)

    @contextlib.asynccontextmanager
    async def transaction(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.transactions += 1
        async with super().transaction(*args, **kwargs) as tx:
            yield tx

    def reset(self) -> None:
        self.statements, self.transactions = [], 0


@pytest.fixture
async def counting() -> AsyncIterator[Counting]:
    conn = await Counting.connect(DATABASE_URL, autocommit=True, row_factory=dict_row)
    conn.reset()
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        yield conn
    finally:
        await conn.close()


async def _paid(
    conn: Counting,
    merchant: merchants.NewMerchant,
    config: settings.Settings,
    payment_capture: bool | None,
) -> tuple[int, int, int, int]:
    """(statements, transactions) of creating a payment, then of processing it."""
    order = await orders.create(
        conn,
        merchant.id,
        amount=50000,
        currency="INR",
        receipt=None,
        notes={},
        payment_capture=payment_capture,
    )
    request = instruments.PaymentRequest(
        order_id=order.id, method="upi", vpa="asha@okbank", card=None
    )
    instrument = instruments.validate(request, dt.date.today())
    conn.reset()
    payment = await payments.insert(conn, merchant.id, order.id, instrument, config)
    created = (len(conn.statements), conn.transactions)
    conn.reset()
    assert await payments.process(conn, payment.id, config) is not None
    return (*created, len(conn.statements), conn.transactions)


async def _logs(conn: psycopg.AsyncConnection[db.Row], merchant_id: Any) -> list[str]:
    rows = await db.fetch_all(
        conn,
        "SELECT event FROM webhook_logs WHERE merchant_id = %(m)s ORDER BY created_at",
        {"m": merchant_id},
    )
    return [r["event"] for r in rows]


async def test_a_classic_merchants_payment_is_one_statement_to_create_and_one_to_process(
    counting: Counting, merchant: merchants.NewMerchant, config: settings.Settings
) -> None:
    await merchants.set_webhook_url(counting, merchant.id, "http://127.0.0.1:9/hook")
    for capture in (None, True, False):  # a classic order, and /v1 orders of both kinds
        assert await _paid(counting, merchant, config, capture) == (1, 0, 1, 0)
    assert (
        await _logs(counting, merchant.id)
        == [
            "payment.created",
            "payment.pending",
            "payment.success",
        ]
        * 3
    )


async def test_a_razorpay_merchants_processing_commits_its_events_in_one_transaction(
    counting: Counting, merchant: merchants.NewMerchant, config: settings.Settings
) -> None:
    await merchants.set_webhook_url(
        counting, merchant.id, "http://127.0.0.1:9/hook", webhook_format="razorpay"
    )
    created_statements, created_transactions, statements, transactions = await _paid(
        counting, merchant, config, True
    )
    assert (created_statements, created_transactions) == (1, 0)
    assert transactions == 1 and statements >= 3  # the probe, the change, the events
    assert await _logs(counting, merchant.id) == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]
