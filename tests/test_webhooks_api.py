"""Webhook configuration, the outbox rows, listing and manual retry through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway import db, merchants, settings, vault
from gateway.api import app as app_module
from gateway.webhooks import urls
from tests.conftest import assert_error
from tests.helpers import new_payment


async def _set_url(
    client: httpx.AsyncClient, auth: dict[str, str], url: str | None
) -> httpx.Response:
    return await client.put("/api/v1/webhooks/config", json={"url": url}, headers=auth)


async def test_config_round_trip_and_clear(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    initial = (await client.get("/api/v1/webhooks/config", headers=auth)).json()
    assert initial["url"] is None and initial["secret"].startswith("whsec_")
    assert "payment.success" in initial["events"] and "refund.processed" in initial["events"]
    r = await _set_url(client, auth, "http://127.0.0.1:9/hook")
    assert r.status_code == 200 and r.json()["url"] == "http://127.0.0.1:9/hook"
    cleared = await _set_url(client, auth, None)
    assert cleared.json()["url"] is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "javascript:alert(1)",
        "http://",
        "not a url",
        "http://u:p@example.com/",
    ],
)
async def test_malformed_urls_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], url: str
) -> None:
    assert_error(await _set_url(client, auth, url), 400, "BAD_REQUEST_ERROR")


@pytest.fixture
async def live_client(config: settings.Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app outside test mode: private addresses are refused."""
    strict = config.model_copy(update={"test_mode": False, "allow_private_webhook_urls": False})
    application = app_module.create_app(strict)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_and_metadata_addresses_are_refused_outside_test_mode(
    live_client: httpx.AsyncClient, auth: dict[str, str], url: str
) -> None:
    body = assert_error(await _set_url(live_client, auth, url), 400, "BAD_REQUEST_ERROR")
    assert "private" in body["error"]["description"] or "resolve" in body["error"]["description"]


async def test_a_public_address_passes_the_check() -> None:
    await urls.check("https://93.184.216.34/hook", allow_private=False)


async def test_outbox_rows_exist_only_with_a_url(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    without = await new_payment(client, auth)
    rows = await db.fetch_all(
        conn, "SELECT id FROM webhook_logs WHERE resource_id = %(r)s", {"r": without["id"]}
    )
    assert rows == []
    await _set_url(client, auth, "http://127.0.0.1:9/hook")
    p = await new_payment(client, auth)
    logs = await db.fetch_all(
        conn,
        "SELECT l.id, l.event, l.payload, e.payload AS event_payload FROM webhook_logs l"
        " JOIN events e ON e.id = l.event_id WHERE l.resource_id = %(r)s ORDER BY l.created_at",
        {"r": p["id"]},
    )
    assert [log["event"] for log in logs] == ["payment.created", "payment.pending"]
    assert all(log["payload"] == log["event_payload"] for log in logs)
    jobs = await db.fetch_all(
        conn,
        "SELECT lock, args FROM procrastinate_jobs WHERE task_name = 'deliver_webhook'"
        " AND args->'log_ids' ?| %(ids)s",
        {"ids": [str(log["id"]) for log in logs]},
    )
    # One job delivers the transaction's two events, in the order they were emitted.
    assert len(jobs) == 1 and jobs[0]["lock"] is None
    assert jobs[0]["args"]["log_ids"] == [str(log["id"]) for log in logs]


async def test_list_filters_and_detail(
    client: httpx.AsyncClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    await _set_url(client, auth, "http://127.0.0.1:9/hook")
    first = await new_payment(client, auth)
    await new_payment(client, auth)
    page = (await client.get("/api/v1/webhooks?limit=3", headers=auth)).json()
    assert page["total"] == 4 and len(page["data"]) == 3 and page["limit"] == 3
    item = page["data"][0]
    assert set(item) == {
        "id",
        "event",
        "status",
        "attempts",
        "created_at",
        "last_attempt_at",
        "next_retry_at",
        "response_code",
        "event_id",
        "resource_id",
    }
    assert (
        item["status"] == "pending"
        and item["attempts"] == 0
        and item["event_id"].startswith("evt_")
    )
    by_resource = (
        await client.get(f"/api/v1/webhooks?resource_id={first['id']}", headers=auth)
    ).json()
    assert by_resource["total"] == 2
    by_event = (await client.get("/api/v1/webhooks?event=payment.created", headers=auth)).json()
    assert by_event["total"] == 2
    detail = (await client.get(f"/api/v1/webhooks/{item['id']}", headers=auth)).json()
    assert detail["payload"].startswith('{"event":"payment.')
    assert_error(
        await client.get(f"/api/v1/webhooks/{item['id']}", headers=other_auth),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.post(f"/api/v1/webhooks/{item['id']}/retry", headers=other_auth),
        404,
        "NOT_FOUND_ERROR",
    )
    assert_error(
        await client.post("/api/v1/webhooks/not-a-uuid/retry", headers=auth), 404, "NOT_FOUND_ERROR"
    )
    for bad in ("status=nope", "event=nope", "limit=0", "limit=101"):
        assert_error(
            await client.get(f"/api/v1/webhooks?{bad}", headers=auth), 400, "BAD_REQUEST_ERROR"
        )


async def test_retry_resets_attempts_and_schedules_now(
    client: httpx.AsyncClient, auth: dict[str, str], conn: db.Conn
) -> None:
    await _set_url(client, auth, "http://127.0.0.1:9/hook")
    await new_payment(client, auth)
    log_id = (await client.get("/api/v1/webhooks?limit=1", headers=auth)).json()["data"][0]["id"]
    await conn.execute(
        "UPDATE webhook_logs SET attempts = 5, status = 'failed' WHERE id = %(id)s", {"id": log_id}
    )
    r = await client.post(f"/api/v1/webhooks/{log_id}/retry", headers=auth)
    assert r.status_code == 200
    assert r.json() == {"id": log_id, "status": "pending", "message": "Webhook retry scheduled"}
    row = await db.fetch_one(
        conn,
        "SELECT attempts, status, generation, next_retry_at <= now() AS due FROM webhook_logs"
        " WHERE id = %(id)s",
        {"id": log_id},
    )
    assert row == {"attempts": 0, "status": "pending", "generation": 1, "due": True}
    # "Now" is the job the retry committed: attempt 0 of the new generation, due at once (its
    # scheduled_at is the retry's own moment: a worker takes it on its next fetch).
    jobs = await db.fetch_all(
        conn,
        "SELECT args, status::text AS status, scheduled_at <= now() AS due FROM procrastinate_jobs"
        " WHERE task_name = 'deliver_webhook' AND args->>'log_id' = %(id)s",
        {"id": log_id},
    )
    assert jobs == [
        {
            "args": {"log_id": log_id, "generation": 1, "attempt": 0},
            "status": "todo",
            "due": True,
        }
    ]


async def test_rotation_keeps_the_old_secret_for_the_overlap(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    conn: db.Conn,
    merchant: Any,
    config: settings.Settings,
) -> None:
    before = (await client.get("/api/v1/webhooks/config", headers=auth)).json()["secret"]
    rotated = (await client.post("/api/v1/webhooks/config/rotate-secret", headers=auth)).json()
    assert rotated["secret"] != before and rotated["secret"].startswith("whsec_")
    row = await db.fetch_one(
        conn,
        "SELECT previous_webhook_secret_sealed, previous_webhook_secret_expires_at - now() AS left"
        " FROM merchants WHERE id = %(id)s",
        {"id": merchant.id},
    )
    assert row is not None
    previous = vault.open_(
        config,
        row["previous_webhook_secret_sealed"],
        column=merchants.PREVIOUS_WEBHOOK_SECRET,
        row=merchant.id,
    )
    assert previous == before
    assert 23 * 3600 < row["left"].total_seconds() <= 24 * 3600


async def test_test_webhook_needs_a_url(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_error(await client.post("/api/v1/webhooks/test", headers=auth), 400, "BAD_REQUEST_ERROR")
    await _set_url(client, auth, "http://127.0.0.1:9/hook")
    r = await client.post("/api/v1/webhooks/test", headers=auth)
    assert r.status_code == 202
    logs = (await client.get("/api/v1/webhooks?event=webhook.test", headers=auth)).json()
    assert logs["total"] == 1
