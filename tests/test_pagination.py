"""Lists: cursors (starting_after / ending_before) and offsets walk the same newest-first order,
and every `total` — read from the counts the triggers keep, not from counting — equals the
real count of rows, through creations, status changes and concurrent writers."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from gateway import db, merchants, payments, refunds, settings
from tests.conftest import assert_error
from tests.helpers import new_order, new_payment


async def _walk(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    path: str,
    limit: int,
    filters: dict[str, str] | None = None,
) -> list[str]:
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": limit, **(filters or {})}
    while True:
        page = (await client.get(path, params=params, headers=auth)).json()
        ids += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            return ids
        params = {**params, "starting_after": page["data"][-1]["id"]}


async def test_cursors_and_offsets_walk_the_same_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    made = [
        (await client.post("/api/v1/orders", json={"amount": 1000 + i}, headers=auth)).json()["id"]
        for i in range(7)
    ]
    newest_first = list(reversed(made))
    assert await _walk(client, auth, "/api/v1/orders", 3) == newest_first
    by_offset = []
    for offset in range(0, 7, 3):
        page = (
            await client.get("/api/v1/orders", params={"limit": 3, "offset": offset}, headers=auth)
        ).json()
        assert page["total"] == 7
        by_offset += [o["id"] for o in page["data"]]
    assert by_offset == newest_first
    # Back from the fifth item: the page just before it, still newest first.
    back = (
        await client.get(
            "/api/v1/orders", params={"limit": 2, "ending_before": newest_first[4]}, headers=auth
        )
    ).json()
    assert [o["id"] for o in back["data"]] == newest_first[2:4] and back["has_more"] is True
    first = (
        await client.get(
            "/api/v1/orders", params={"limit": 5, "ending_before": newest_first[2]}, headers=auth
        )
    ).json()
    assert [o["id"] for o in first["data"]] == newest_first[:2] and first["has_more"] is False


async def test_a_cursor_must_name_an_item_of_the_list(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    mine = await new_order(client, auth)
    cases: list[dict[str, str | int]] = [
        {"starting_after": "order_0000000000000000"},
        {"starting_after": "nonsense"},
        {"ending_before": mine, "starting_after": mine},
        {"starting_after": mine, "offset": 1},
    ]
    for params in cases:
        r = await client.get("/api/v1/orders", params=params, headers=auth)
        assert_error(r, 400, "BAD_REQUEST_ERROR")
    # Another merchant's order is not in my list.
    r = await client.get("/api/v1/orders", params={"starting_after": mine}, headers=other_auth)
    assert_error(r, 400, "BAD_REQUEST_ERROR")
    for path, cursor in (("/api/v1/webhooks", "not-a-uuid"), ("/api/v1/payments", "pay_x")):
        assert_error(
            await client.get(path, params={"starting_after": cursor}, headers=auth),
            400,
            "BAD_REQUEST_ERROR",
        )


async def test_a_cursor_respects_the_filter(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn, config: settings.Settings
) -> None:
    pays = [await new_payment(client, auth, method=m) for m in ("upi", "card", "upi", "card")]
    await payments.process(conn, pays[0]["id"], config)
    cards = await _walk(client, auth, "/api/v1/payments", 1, {"method": "card"})
    assert cards == [pays[3]["id"], pays[1]["id"]]
    pending = (
        await client.get(
            "/api/v1/payments", params={"status": "pending", "limit": 10}, headers=auth
        )
    ).json()
    assert pending["total"] == 3 and {p["id"] for p in pending["data"]} == {
        p["id"] for p in pays[1:]
    }


async def _real_counts(conn: db.Conn, merchant_id: Any) -> dict[str, int]:
    """What the lists' totals must say, counted the slow way."""
    found: dict[str, int] = {}
    for table, kind in (
        ("orders", None),
        ("payments", "method"),
        ("refunds", None),
        ("webhook_logs", "event"),
    ):
        columns = ["status", *([kind] if kind else [])]
        for combo in itertools.chain.from_iterable(
            itertools.combinations(columns, r) for r in range(len(columns) + 1)
        ):
            group = ", ".join(combo)
            rows = await db.fetch_all(
                conn,
                f"SELECT {group + ',' if group else ''} count(*) AS n FROM {table}"
                f" WHERE merchant_id = %(m)s {'GROUP BY ' + group if group else ''}",
                {"m": merchant_id},
            )
            for row in rows:
                key = "&".join(f"{c}={row[c]}" for c in combo)
                found[f"{table}?{key}"] = int(row["n"])
    return found


async def test_every_total_equals_a_real_count_after_a_mixed_workload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    config: settings.Settings,
    merchant: merchants.NewMerchant,
) -> None:
    await client.put(
        "/api/v1/webhooks/config", json={"url": "http://127.0.0.1:9/hook"}, headers=auth
    )
    declining = config.model_copy(update={"test_payment_success": False})
    made = []
    for i in range(6):
        made.append(await new_payment(client, auth, method="card" if i % 2 else "upi"))
    await payments.process(conn, made[0]["id"], config)
    await payments.process(conn, made[1]["id"], declining)
    await payments.process(conn, made[2]["id"], config)
    refund = await refunds.create(
        conn, merchant.id, made[0]["id"], amount=100, reason=None, config=config
    )
    await refunds.create(conn, merchant.id, made[2]["id"], amount=200, reason=None, config=config)
    await refunds.process(conn, refund.id)
    await conn.execute(
        "UPDATE webhook_logs SET status = 'failed'"
        " WHERE merchant_id = %(m)s AND event = 'payment.created'",
        {"m": merchant.id},
    )
    # A payment on a paid order inserts nothing: its statement's trigger still fires.
    paid_order = made[0]["order_id"]
    r = await client.post(
        "/api/v1/payments",
        json={"order_id": paid_order, "method": "upi", "vpa": "a@b"},
        headers=auth,
    )
    assert_error(r, 400, "BAD_REQUEST_ERROR")

    real = await _real_counts(conn, merchant.id)
    paths = {
        "orders": "/api/v1/orders",
        "payments": "/api/v1/payments",
        "refunds": "/api/v1/refunds",
        "webhook_logs": "/api/v1/webhooks",
    }
    checked = 0
    for key, expected in real.items():
        table, _, query = key.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        page = (await client.get(paths[table], params=params, headers=auth)).json()
        assert page["total"] == expected, (key, page["total"])
        checked += 1
    assert checked > 20
    stats = await payments.stats(conn, merchant.id)
    row = await db.fetch_one(
        conn,
        "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'success') AS ok,"
        " coalesce(sum(amount) FILTER (WHERE status = 'success'), 0) AS amount"
        " FROM payments WHERE merchant_id = %(m)s",
        {"m": merchant.id},
    )
    assert row is not None
    assert (stats.total, stats.successful, stats.successful_amount) == (
        row["total"],
        row["ok"],
        row["amount"],
    )


async def test_totals_stay_exact_under_concurrent_writers(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    database: str,
    merchant: merchants.NewMerchant,
    config: settings.Settings,
) -> None:
    """Writers on separate connections update different counter slots; none of their counts
    is lost, and a payment's status change moves its count exactly once."""
    orders_ = [await new_order(client, auth) for _ in range(12)]

    async def pay(order_id: str, method: str) -> None:
        async with await psycopg.AsyncConnection.connect(
            database, autocommit=True, row_factory=dict_row
        ) as c:
            from gateway import instruments

            instrument = (
                instruments.Instrument("upi", vpa="a@bank")
                if method == "upi"
                else instruments.Instrument("card", card=instruments.CardSummary("visa", "1111"))
            )
            payment = await payments.insert(c, merchant.id, order_id, instrument, config)
            await payments.process(c, payment.id, config)

    await asyncio.gather(*(pay(o, "upi" if i % 3 else "card") for i, o in enumerate(orders_)))
    page = (await client.get("/api/v1/payments", params={"status": "success"}, headers=auth)).json()
    assert page["total"] == 12
    assert (
        await client.get("/api/v1/payments", params={"status": "pending"}, headers=auth)
    ).json()["total"] == 0
    assert (await client.get("/api/v1/orders", params={"status": "paid"}, headers=auth)).json()[
        "total"
    ] == 12
