"""GET /metrics: Prometheus text with requests by route template and status, jobs by task and
outcome, the due → started lag, webhook attempts by outcome and the queue depth, summed over
every process that shares the multiprocess directory; closed in production without a token."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway import merchants, settings
from tests import processes
from tests.conftest import assert_error
from tests.helpers import app_client, new_payment
from tests.receiver import Receiver


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample; 0 when the series does not exist yet."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        # Label values may hold braces (route templates): read between the outer ones.
        found = dict(re.findall(r'(\w+)="([^"]*)"', series[len(name) + 1 : -1]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    route = "/api/v1/payments/{payment_id}"
    before = (await client.get("/metrics")).text
    await client.get("/api/v1/payments/pay_0000000000000000", headers=auth)  # 404
    payment = await new_payment(client, auth)
    await client.get(f"/api/v1/payments/{payment['id']}", headers=auth)  # 200
    after = await client.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    for status in ("200", "404"):
        grew = _sample(text, "gateway_http_requests_total", route=route, status=status) - _sample(
            before, "gateway_http_requests_total", route=route, status=status
        )
        assert grew == 1, status
    # No label per id: the path with the id itself never appears.
    assert payment["id"] not in text
    assert _sample(text, "gateway_http_request_duration_seconds_count", route=route) >= 2
    assert "gateway_job_queue_depth" in text


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [(None, None, 404), ("s3cr3t-token", None, 401), ("s3cr3t-token", "Bearer nope", 401)],
)
async def test_production_metrics_are_closed_without_the_token(
    config: settings.Settings, token: str | None, header: str | None, status: int
) -> None:
    production = config.model_copy(
        update={
            "env": "production",
            "test_mode": False,
            "metrics_token": SecretStr(token) if token else None,
        }
    )
    async with app_client(production) as client:
        headers = {"Authorization": header} if header else {}
        r = await client.get("/metrics", headers=headers)
        assert_error(r, status, "NOT_FOUND_ERROR" if status == 404 else "AUTHENTICATION_ERROR")
        if token:
            ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and "gateway_http_requests_total" in ok.text


@pytest.mark.e2e
async def test_two_api_processes_and_a_worker_report_through_one_endpoint(
    tmp_path: Path, merchant: merchants.NewMerchant
) -> None:
    """The multiprocess directory `gateway run` gives its children: requests served by either
    uvicorn worker and the jobs the worker ran all show on one /metrics."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    auth = {"X-Api-Key": merchant.api_key, "X-Api-Secret": merchant.api_secret}
    with Receiver() as receiver, processes.api_server(env, workers=2) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            hook = receiver.url + "/ok"
            r = await api.put("/api/v1/webhooks/config", json={"url": hook}, headers=auth)
            assert r.status_code == 200, r.text
            # Fresh connections each time, so both uvicorn processes take requests.
            for _ in range(20):
                async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
                    assert (await fresh.get("/api/v1/orders", headers=auth)).status_code == 200
            payment = await new_payment(api, auth)
            with processes.worker(env):
                deadline = time.monotonic() + 30
                while True:
                    text = (await api.get("/metrics")).text
                    done = _sample(text, "gateway_jobs_total", task="process_payment")
                    sent = _sample(text, "gateway_webhook_attempts_total", outcome="success")
                    if done >= 1 and sent >= 3:
                        break
                    assert time.monotonic() < deadline, "worker samples never arrived"
                    await _pause()
        orders = _sample(text, "gateway_http_requests_total", route="/api/v1/orders", status="200")
        assert orders >= 20
        pids = {p.name.split("_")[-1].removesuffix(".db") for p in tmp_path.glob("*.db")}
        assert len(pids) >= 3  # two API processes and the worker wrote samples
        assert _sample(text, "gateway_job_lag_seconds_count", task="process_payment") >= 1
        assert payment["id"] not in text


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.2)
