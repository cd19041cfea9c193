"""The server key: from GATEWAY_SECRET_KEY, or generated once into the data directory for the
demo and shared by every process; one derived key per purpose."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import keys, settings


def _config(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, key: str | None = None
) -> settings.Settings:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    if key is None:
        monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("GATEWAY_SECRET_KEY", key)
    return settings.load()


def test_the_configured_key_is_used_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = os.urandom(32)
    config = _config(monkeypatch, tmp_path, base64.b64encode(raw).decode())
    assert keys.master(config) == raw
    assert list(tmp_path.iterdir()) == []


def test_the_demo_generates_one_private_key_file_and_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _config(monkeypatch, tmp_path / "data")
    first = keys.master(config)
    path = tmp_path / "data" / keys.KEY_FILE
    assert len(first) == 32 and base64.b64decode(path.read_text()) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process of the same checkout reads the same key.
    code = "from gateway import keys, settings; print(keys.master(settings.load()).hex())"
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data")}
    env.pop("GATEWAY_SECRET_KEY", None)
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert other.stdout.strip() == first.hex(), other.stderr


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    code = "from gateway import keys, settings; print(keys.master(settings.load()).hex())"
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path)}
    env.pop("GATEWAY_SECRET_KEY", None)
    started = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    seen = {process.communicate(timeout=60)[0].strip() for process in started}
    assert len(seen) == 1 and len(seen.pop()) == 64


def test_purposes_get_different_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _config(monkeypatch, tmp_path, base64.b64encode(os.urandom(32)).decode())
    a, b = keys.derive(config, "secrets-at-rest"), keys.derive(config, "idempotency")
    assert len(a) == len(b) == 32 and a != b and keys.master(config) not in (a, b)


@pytest.mark.parametrize("value", ["short", base64.b64encode(b"x" * 16).decode(), "!!notbase64!!"])
def test_a_malformed_key_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GATEWAY_SECRET_KEY", value)
    with pytest.raises(settings.SettingsError) as raised:
        settings.load()
    message = str(raised.value.code)
    assert message.startswith("invalid setting GATEWAY_SECRET_KEY: ") and value not in message


def test_production_requires_a_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("TEST_MODE", "false")
    monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    with pytest.raises(settings.SettingsError, match="GATEWAY_SECRET_KEY is required"):
        settings.load()
