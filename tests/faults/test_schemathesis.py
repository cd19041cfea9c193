"""schemathesis against /openapi.json of a real server, every check, positive and negative data:
no 5xx; every response as documented (status, content type, headers, schema, `Allow`); every
request the document allows accepted and every request it forbids refused. The few refusals of
a schema-valid request that depend on state are listed in schemathesis.toml, with why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import merchants
from tests import processes

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed (dev dependency)")
    return found


def test_schemathesis_all_checks_positive_and_negative_find_nothing(
    merchant: merchants.NewMerchant, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000",
        "GATEWAY_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    with processes.api_server(env) as base:
        result = subprocess.run(
            [
                _schemathesis(), "--config-file", str(HERE / "schemathesis.toml"),
                "run", f"{base}/openapi.json",
                "-H", f"X-Api-Key: {merchant.api_key}",
                "-H", f"X-Api-Secret: {merchant.api_secret}",
                "--checks", "all", "--mode", "all",
                # 20 cases per operation and phase: ~1,300 requests, well under two minutes on
                # two cores, and a fixed seed so that a failure can be replayed.
                "-n", "20", "--seed", "7", "--generation-database", "none",
                "--request-timeout", "10",
            ],
            capture_output=True, text=True, cwd=tmp_path, timeout=240,
            env={
                **os.environ,
                "PYTHONPATH": str(processes.ROOT),
                "SCHEMATHESIS_HOOKS": "tests.faults.schemathesis_hooks",
            },
        )  # fmt: skip
    tail = result.stdout[-6000:]
    assert result.returncode == 0, tail
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in tail, tail
    assert " passed" in tail and "failure" not in tail, tail
