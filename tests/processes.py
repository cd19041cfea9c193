"""Real processes for end-to-end tests and for the benches: a worker via procrastinate's CLI, the
web apps via uvicorn, each waited for with a deadline and stopped with SIGTERM (SIGKILL if that
is not enough). bench/env.py imports this module too: it must not import pytest."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import httpx

from gateway import cli

ROOT = Path(__file__).resolve().parent.parent
# What `gateway worker` runs: procrastinate's CLI on uvloop.
WORKER_ARGV = cli.worker_command()
API_FACTORY = cli.API_FACTORY
CHECKOUT_FACTORY = cli.CHECKOUT_FACTORY
DASHBOARD_FACTORY = cli.DASHBOARD_FACTORY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GATEWAY_WORKER_POLLING_INTERVAL", "0.2")
    env.update(extra or {})
    return env


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_http(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 20,
    ok: Sequence[int] = (200,),
) -> None:
    """Poll `url` until it answers one of `ok`; RuntimeError if `process` exits first or the
    deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


def uvicorn_argv(factory: str, port: int, *extra: str) -> list[str]:
    """The command line of one of our apps (`factory`) under uvicorn on 127.0.0.1:`port`, as
    `gateway run` builds it."""
    return [*cli.uvicorn_command(factory, port, "127.0.0.1"), *extra]


@contextlib.contextmanager
def web_app(
    factory: str,
    env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    ready: Sequence[int] = (200,),
    workers: int = 1,
) -> Iterator[str]:
    """One of our apps as a process with the test environment plus `env`, up once /health
    answers one of `ready`; yields its base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        uvicorn_argv(factory, port, *(["--workers", str(workers)] if workers > 1 else [])),
        cwd=ROOT,
        env=_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", process, ok=ready)
        yield base
    finally:
        stop(process)


def spawn_worker(
    extra_env: dict[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    output: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """A worker process (`args` after procrastinate's `worker`, e.g. --queues=…); its stdout and
    stderr go to `output`."""
    return subprocess.Popen(
        [*WORKER_ARGV, *args],
        cwd=ROOT,
        env=_env(extra_env),
        stdout=output,
        stderr=subprocess.STDOUT if output != subprocess.DEVNULL else subprocess.DEVNULL,
    )


@contextlib.contextmanager
def worker(extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = spawn_worker(extra_env)
    try:
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def api_server(extra_env: dict[str, str] | None = None, workers: int = 1) -> Iterator[str]:
    # 503 is an answer too: /health says so while the database or a worker is missing.
    with web_app(API_FACTORY, extra_env, ready=(200, 503), workers=workers) as base:
        yield base
