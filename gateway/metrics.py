"""Prometheus metrics, safe across processes.

`gateway run` and `gateway serve` point PROMETHEUS_MULTIPROC_DIR at a fresh directory before their
children start, so every API process (uvicorn --workers) and every worker process writes its
samples there and GET /metrics on any API process reports the sum for the host. A process
started on its own without that variable reports only itself.

What is measured: requests by route template and status (count and latency), jobs by task and
outcome, the lag from a job's due time to its start, webhook attempts by outcome, and, read at
scrape time, the job queue's depth by queue and status."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Latency buckets for a payment API: the interesting part is 1 to 100 ms.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Due → started: scheduled jobs should start within the polling interval, a backlog shows here.
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

requests = Counter(
    "gateway_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
request_seconds = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from request to the end of the response",
    ["method", "route", "status"],
    buckets=_HTTP_BUCKETS,
)
jobs = Counter("gateway_jobs_total", "Jobs run by the worker", ["task", "outcome"])
job_seconds = Histogram(
    "gateway_job_duration_seconds", "Time a job ran", ["task"], buckets=_HTTP_BUCKETS
)
job_lag_seconds = Histogram(
    "gateway_job_lag_seconds",
    "Time from a job's due time (scheduled_at) to its start",
    ["task"],
    buckets=_LAG_BUCKETS,
)
webhook_attempts = Counter(
    "gateway_webhook_attempts_total",
    "Webhook delivery attempts by outcome (success, or why not)",
    ["outcome"],
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    code = str(status)
    requests.labels(method, route, code).inc()
    request_seconds.labels(method, route, code).observe(seconds)


async def job_middleware(call_next: Callable[[], Awaitable[Any]], context: Any, worker: Any) -> Any:
    """procrastinate worker middleware: each job's lag (from its due time: our jobs always
    carry scheduled_at, now() when deferred for at once), duration and outcome."""
    job = context.job
    task = str(job.task_name)
    started = time.time()
    if job.scheduled_at is not None:
        job_lag_seconds.labels(task).observe(max(0.0, started - job.scheduled_at.timestamp()))
    outcome = "error"
    try:
        result = await call_next()
        outcome = "success"
        return result
    finally:
        jobs.labels(task, outcome).inc()
        job_seconds.labels(task).observe(time.time() - started)


class _QueueDepth(Collector):
    """The queue depth read by the /metrics handler just before rendering."""

    def __init__(self, depth: Mapping[tuple[str, str], int]) -> None:
        self.depth = depth

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "gateway_job_queue_depth", "Jobs waiting or running", labels=["queue", "status"]
        )
        for (queue, status), count in sorted(self.depth.items()):
            family.add_metric([queue, status], count)
        yield family


def render(queue_depth: Mapping[tuple[str, str], int]) -> bytes:
    """The exposition text: every process's samples when multiprocess, else this process's."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (requests, request_seconds, jobs, job_seconds, job_lag_seconds):
            registry.register(metric)
        registry.register(webhook_attempts)
    registry.register(_QueueDepth(queue_depth))
    return generate_latest(registry)
