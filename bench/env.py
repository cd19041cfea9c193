"""The bench's throwaway databases, the processes it starts, and how it prints tables. Starting,
waiting for and stopping processes is shared with the tests (tests/processes.py, which imports
no pytest)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from tests import processes
from tests.processes import ROOT as ROOT
from tests.processes import free_port as free_port

SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MERCHANT_ID = "550e8400-e29b-41d4-a716-446655440000"
API_KEY = "key_test_abc123"
API_SECRET = "secret_test_xyz789"


def url(name: str) -> str:
    return f"{SERVER}/{name}"


def admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url("postgres"), autocommit=True)


class Databases:
    """A migrated, seeded template `gateway_bench_<pid>_tpl`; each phase gets a fresh copy
    (so jobs left by one phase never run in the next). Everything is dropped on exit."""

    def __init__(self) -> None:
        self.prefix = f"gateway_bench_{os.getpid()}"
        self.template = self.prefix + "_tpl"
        self.made: list[str] = []

    def __enter__(self) -> Databases:
        self._create(self.template, None)
        import asyncio

        from gateway import cli

        asyncio.run(cli.prepare(url(self.template)))
        return self

    def _create(self, name: str, template: str | None) -> None:
        with admin() as conn:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(query)
        self.made.append(name)

    def empty(self, phase: str) -> str:
        """A database of its own for `phase`, with nothing in it."""
        name = f"{self.prefix}_{phase}"
        self._create(name, None)
        return url(name)

    def fresh(self, phase: str) -> str:
        name = f"{self.prefix}_{phase}"
        self._create(name, self.template)
        return url(name)

    def __exit__(self, *exc: object) -> None:
        with admin() as conn:
            for name in reversed(self.made):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def seed_orders(db_url: str, count: int, prefix: str, amount: int = 50000) -> list[str]:
    """`count` orders of the test merchant with ids order_<prefix><digits> (16 characters)."""
    width = 16 - len(prefix)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (id, merchant_id, amount) SELECT 'order_' || %(p)s"
            " || lpad(n::text, %(w)s, '0'), %(m)s, %(a)s FROM generate_series(1, %(c)s) n",
            {"p": prefix, "w": width, "m": MERCHANT_ID, "a": amount, "c": count},
        )
    return [f"order_{prefix}{n:0{width}d}" for n in range(1, count + 1)]


def gateway_env(db_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "1000",
            # The bench measures throughput, not the limiter.
            "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
            "GATEWAY_PUBLIC_RATE_LIMIT_PER_MINUTE": "100000000",
        }
    )
    env.update(extra or {})
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    processes.stop(process, signal.SIGTERM, timeout=20)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the kernel's own high-water mark of the process's resident set."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Api:
    """uvicorn with `workers` processes. `pids` are the serving processes (for memory)."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, port: int) -> None:
        self.process = process
        self.base = base
        self.port = port

    @property
    def pids(self) -> list[int]:
        kids = [k for k in children(self.process.pid) if peak_rss_mb(k) > 0]
        # With --workers the parent only supervises; the children serve (skip its helper).
        serving = [k for k in kids if "multiprocessing" not in _cmdline(k)]
        return serving or [self.process.pid]

    def peak_rss_mb(self) -> float:
        return max((peak_rss_mb(p) for p in self.pids), default=0.0)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextlib.contextmanager
def api(
    db_url: str, workers: int | None = None, extra: dict[str, str] | None = None
) -> Iterator[Api]:
    """The API as `gateway run` starts it (the same uvicorn command line: one process per
    core unless `workers` says otherwise, INFO logging with the gateway's access log), with a
    multiprocess metrics directory of its own."""
    from gateway import cli, settings

    port = free_port()
    count = workers or settings.load().api_processes
    argv = cli.uvicorn_command(cli.API_FACTORY, port, "127.0.0.1", count)
    metrics_dir = tempfile.mkdtemp(prefix="gateway-bench-metrics-")
    extra = {"PROMETHEUS_MULTIPROC_DIR": metrics_dir, **(extra or {})}
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=gateway_env(db_url, extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(base + "/health", process, timeout=30, ok=(200, 503))
        # Every worker process answers /health once before the measured load starts.
        for _ in range(8 * count):
            httpx.get(base + "/health", timeout=2)
        yield Api(process, base, port)
    finally:
        stop(process)
        shutil.rmtree(metrics_dir, ignore_errors=True)


@contextlib.contextmanager
def dashboard(db_url: str) -> Iterator[str]:
    """The dashboard app, as `gateway run` starts it; yields its base URL."""
    from gateway import cli

    port = free_port()
    argv = cli.uvicorn_command(cli.DASHBOARD_FACTORY, port, "127.0.0.1")
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=gateway_env(db_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(base + "/health", process, timeout=30)
        yield base
    finally:
        stop(process)


@contextlib.contextmanager
def worker(db_url: str, extra: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    argv = processes.WORKER_ARGV
    process = subprocess.Popen(
        argv, cwd=ROOT, env=gateway_env(db_url, extra), stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def workers(
    db_url: str, count: int, extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`count` worker processes; yields the first (its RSS stands for each of them)."""
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(worker(db_url, extra)) for _ in range(count)]
        yield started[0]


def wait_for_worker(db_url: str, timeout: float = 30) -> None:
    """Until a worker process has registered its heartbeat (it is then fetching jobs)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_workers"
                " WHERE last_heartbeat > now() - interval '10 seconds'"
            ).fetchone()
            if row is not None and int(row[0]) > 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("no worker registered")
            time.sleep(0.05)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]
