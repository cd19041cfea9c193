"""The official Node SDK (npm `razorpay`, pinned by tests/node/package-lock.json) runs the same
server-side flow against a real API server and worker: tests/node/flow.js. The SDK is
installed here with `npm ci` from the lock file into tests/node/node_modules (test-only; the
product ships no JS build). Without node/npm the test is skipped, except under CI=true, where
a missing toolchain is a failure."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gateway import merchants
from tests import processes, tools

pytestmark = pytest.mark.e2e

NODE_DIR = processes.ROOT / "tests" / "node"
# Refunds are processed a moment after they are made, not the default 3-5 s.
FAST = {"GATEWAY_REFUND_DELAY_MIN": "300", "GATEWAY_REFUND_DELAY_MAX": "500"}


def _tool(name: str) -> str:
    return tools.require(name)


def _install(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the lock file: exactly the pinned
    versions, no install scripts."""
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_official_node_sdk_runs_the_same_flow(merchant: merchants.NewMerchant) -> None:
    node, npm = _tool("node"), _tool("npm")
    _install(npm)
    with processes.api_server(FAST) as base, processes.worker():
        result = subprocess.run(
            [node, str(Path("flow.js"))],
            cwd=NODE_DIR,
            env={
                **os.environ,
                "GATEWAY_URL": base,
                "KEY_ID": merchant.api_key,
                "KEY_SECRET": merchant.api_secret,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["webhooks"] >= 8
