"""schemathesis against /openapi.json of a real server: no 5xx, and every response conforms to
the documented schema, status codes and content types."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import merchants
from tests import processes

pytestmark = pytest.mark.e2e


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed (dev dependency)")
    return found


def test_schemathesis_finds_no_server_error_and_no_schema_lie(
    merchant: merchants.NewMerchant, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000",
        "GATEWAY_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    with processes.api_server(env) as base:
        result = subprocess.run(
            [
                _schemathesis(), "run", f"{base}/openapi.json",
                "-H", f"X-Api-Key: {merchant.api_key}",
                "-H", f"X-Api-Secret: {merchant.api_secret}",
                "-c", "not_a_server_error,response_schema_conformance,"
                "status_code_conformance,content_type_conformance",
                "-n", "25", "--seed", "7", "--generation-database", "none",
                "--request-timeout", "10",
            ],
            capture_output=True, text=True, cwd=tmp_path, timeout=240,
        )  # fmt: skip
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert "passed" in tail
