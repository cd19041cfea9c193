"""Settings: the contract's variable names work exactly as written, everything else answers to
GATEWAY_<NAME>, and a bad value stops `gateway` with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import settings

CONTRACT_DEFAULTS: dict[str, tuple[str, Any]] = {
    "TEST_MODE": ("test_mode", False),
    "TEST_PAYMENT_SUCCESS": ("test_payment_success", True),
    "TEST_PROCESSING_DELAY": ("test_processing_delay", 1000),
    "WEBHOOK_RETRY_INTERVALS_TEST": ("webhook_retry_intervals_test", False),
    "UPI_SUCCESS_RATE": ("upi_success_rate", 0.90),
    "CARD_SUCCESS_RATE": ("card_success_rate", 0.95),
    "PROCESSING_DELAY_MIN": ("processing_delay_min", 5000),
    "PROCESSING_DELAY_MAX": ("processing_delay_max", 10000),
}


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*CONTRACT_DEFAULTS, "DATABASE_URL", "REDIS_URL"]:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"GATEWAY_{name}", raising=False)


def test_contract_defaults_match_the_contract_table(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    config = settings.load()
    for attr, default in CONTRACT_DEFAULTS.values():
        assert getattr(config, attr) == default, attr
    assert config.database_url == settings.DEFAULT_DATABASE_URL
    assert config.redis_url == settings.DEFAULT_REDIS_URL


@pytest.mark.parametrize(
    ("name", "value", "attr", "expected"),
    [
        (
            "DATABASE_URL",
            "postgresql://u@db:5433/shop",
            "database_url",
            "postgresql://u@db:5433/shop",
        ),
        ("REDIS_URL", "redis://cache:6380/2", "redis_url", "redis://cache:6380/2"),
        ("TEST_MODE", "true", "test_mode", True),
        ("TEST_PAYMENT_SUCCESS", "false", "test_payment_success", False),
        ("TEST_PROCESSING_DELAY", "250", "test_processing_delay", 250),
        ("WEBHOOK_RETRY_INTERVALS_TEST", "true", "webhook_retry_intervals_test", True),
        ("UPI_SUCCESS_RATE", "0.5", "upi_success_rate", 0.5),
        ("CARD_SUCCESS_RATE", "1", "card_success_rate", 1.0),
        ("PROCESSING_DELAY_MIN", "100", "processing_delay_min", 100),
        ("PROCESSING_DELAY_MAX", "20000", "processing_delay_max", 20000),
    ],
)
def test_contract_names_work_as_written(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, attr: str, expected: Any
) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv(name, value)
    assert getattr(settings.load(), attr) == expected
    # The same setting also answers to the GATEWAY_ prefix.
    monkeypatch.delenv(name)
    monkeypatch.setenv(f"GATEWAY_{name}", value)
    assert getattr(settings.load(), attr) == expected


@pytest.mark.parametrize("value", ["false", "0", "False", "no", "off"])
def test_test_payment_success_false_spellings_mean_always_fail(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TEST_PAYMENT_SUCCESS", value)
    assert settings.load().test_payment_success is False


def test_other_settings_take_the_gateway_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_API_PORT", "9123")
    monkeypatch.setenv("GATEWAY_DASHBOARD_PORT", "9124")
    monkeypatch.setenv("GATEWAY_CHECKOUT_PORT", "9125")
    monkeypatch.setenv("GATEWAY_TEST_ENDPOINTS", "false")
    monkeypatch.setenv("GATEWAY_STALLED_WORKER_SECONDS", "3")
    monkeypatch.setenv("GATEWAY_WORKER_HEARTBEAT_INTERVAL", "1")
    config = settings.load()
    assert (config.api_port, config.dashboard_port, config.checkout_port) == (9123, 9124, 9125)
    assert config.test_endpoints is False
    assert config.stalled_worker_seconds == 3
    assert config.worker_heartbeat_interval == 1


def test_bare_names_of_our_own_settings_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes injects API_PORT=tcp://… for a service named "api"; it must not reach us."""
    monkeypatch.delenv("GATEWAY_API_PORT", raising=False)
    monkeypatch.delenv("GATEWAY_HOST", raising=False)
    monkeypatch.setenv("API_PORT", "tcp://10.0.0.7:8000")
    monkeypatch.setenv("HOST", "some-laptop")
    config = settings.load()
    assert config.api_port == 8000
    assert config.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TEST_PROCESSING_DELAY", "abc"),
        ("TEST_PROCESSING_DELAY", "-1"),
        ("UPI_SUCCESS_RATE", "2"),
        ("CARD_SUCCESS_RATE", "-0.1"),
        ("TEST_MODE", "maybe"),
        ("DATABASE_URL", "mysql://db/shop"),
        ("GATEWAY_API_PORT", "0"),
        ("GATEWAY_UPI_SUCCESS_RATE", "7"),
        ("LOG_LEVEL", "chatty"),
    ],
)
def test_a_bad_value_names_the_variable_that_was_set(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as raised:
        settings.load()
    message = str(raised.value.code)
    assert message.startswith(f"invalid setting {name}: ")
    assert "\n" not in message


def test_delay_max_below_min_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESSING_DELAY_MIN", "9000")
    monkeypatch.setenv("PROCESSING_DELAY_MAX", "8000")
    with pytest.raises(settings.SettingsError, match=r"PROCESSING_DELAY_MAX.*PROCESSING_DELAY_MIN"):
        settings.load()


def test_the_error_never_echoes_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://admin:hunter2@db/shop")
    with pytest.raises(settings.SettingsError) as raised:
        settings.load()
    assert "hunter2" not in str(raised.value.code)


def _gateway() -> list[str]:
    script = Path(sys.executable).parent / "gateway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TEST_PROCESSING_DELAY", "abc"),
        ("UPI_SUCCESS_RATE", "2"),
        ("GATEWAY_WORKER_CONCURRENCY", "0"),
        ("LOG_LEVEL", "chatty"),
    ],
)
def test_gateway_migrate_with_a_bad_value_exits_with_one_line(name: str, value: str) -> None:
    env = {**os.environ, name: value}
    done = subprocess.run(
        [*_gateway(), "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert name in lines[0] and "Traceback" not in lines[0]


def test_demo_is_the_default_and_opens_the_demo_doors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_ENV", raising=False)
    config = settings.load()
    assert config.env == "demo" and not config.production
    assert config.demo_mode and config.test_endpoints


PRODUCTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


def test_production_shuts_the_demo_doors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_SECRET_KEY", PRODUCTION_KEY)
    monkeypatch.setenv("TEST_MODE", "false")
    config = settings.load()
    assert config.production
    assert (config.demo_mode, config.test_endpoints, config.private_webhook_urls_allowed) == (
        False,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("TEST_MODE", "invalid setting TEST_MODE: TEST_MODE=true is refused"),
        ("GATEWAY_DEMO_MODE", "invalid settings: GATEWAY_DEMO_MODE=true is refused"),
        ("GATEWAY_TEST_ENDPOINTS", "invalid settings: GATEWAY_TEST_ENDPOINTS=true is refused"),
        (
            "GATEWAY_ALLOW_PRIVATE_WEBHOOK_URLS",
            "invalid settings: GATEWAY_ALLOW_PRIVATE_WEBHOOK_URLS=true is refused",
        ),
    ],
)
def test_production_refuses_a_demo_door_opened_explicitly(
    monkeypatch: pytest.MonkeyPatch, name: str, complaint: str
) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_SECRET_KEY", PRODUCTION_KEY)
    monkeypatch.setenv("TEST_MODE", "false")
    monkeypatch.setenv(name, "true")
    with pytest.raises(settings.SettingsError) as raised:
        settings.load()
    assert str(raised.value.code).startswith(complaint)


def test_gateway_refuses_to_start_test_mode_in_production_with_one_line() -> None:
    env = {
        **os.environ,
        "GATEWAY_ENV": "production",
        "GATEWAY_SECRET_KEY": PRODUCTION_KEY,
        "TEST_MODE": "true",
    }
    done = subprocess.run(
        [*_gateway(), "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "gateway: invalid setting TEST_MODE: TEST_MODE=true is refused with GATEWAY_ENV=production"
    ]


def test_an_unknown_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "prod")
    with pytest.raises(settings.SettingsError, match=r"^invalid setting GATEWAY_ENV: "):
        settings.load()
