"""Real processes for end-to-end tests: a worker via procrastinate's CLI, the API via uvicorn."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway import cli

ROOT = Path(__file__).resolve().parent.parent


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


def spawn_worker(extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cli.worker_command(),
        cwd=ROOT,
        env=_env(extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def worker(extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = spawn_worker(extra_env)
    try:
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def api_server(extra_env: dict[str, str] | None = None, workers: int = 1) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        cwd=ROOT,
        env=_env(extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("API server did not start")
            time.sleep(0.1)
        yield base
    finally:
        stop(process)
