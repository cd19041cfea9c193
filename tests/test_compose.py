"""compose.yaml and the Dockerfile, checked without a Docker engine: the services, ports,
healthchecks and start order are there, and every command names an entry point that exists."""

from __future__ import annotations

import base64
import importlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import procrastinate
import pytest
import yaml

from gateway import cli, settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_the_five_services_run_the_right_images(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for name in ("migrate", "api", "worker"):
        assert services[name]["build"] == ".", name


def test_api_publishes_the_contract_ports(services: dict[str, dict[str, Any]]) -> None:
    assert sorted(services["api"]["ports"]) == ["3000:3000", "3001:3001", "8000:8000"]
    for name in ("migrate", "worker"):
        assert "ports" not in services[name], name


@pytest.mark.parametrize("name", ["postgres", "redis", "api", "worker"])
def test_long_running_services_have_healthchecks(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert len(check["test"]) > 1
    assert check.get("retries", 0) >= 3


def test_healthchecks_probe_what_the_service_does(services: dict[str, dict[str, Any]]) -> None:
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "127.0.0.1:8000/health" in " ".join(services["api"]["healthcheck"]["test"])
    assert "procrastinate_workers" in " ".join(services["worker"]["healthcheck"]["test"])


def test_start_order_uses_depends_on_conditions(services: dict[str, dict[str, Any]]) -> None:
    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("api") == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    assert conditions("worker") == {
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    # One-shot: a restart policy would re-run it forever and never "complete".
    assert services["migrate"].get("restart", "no") == "no"


def test_gateway_services_reach_postgres_and_redis_by_service_name(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert re.fullmatch(r"postgresql://\w+:\w+@postgres:5432/\w+", env["DATABASE_URL"]), name
        assert env["REDIS_URL"].startswith("redis://redis:6379"), name
        assert "TEST_MODE" in env and "WEBHOOK_RETRY_INTERVALS_TEST" in env, name
    pg = services["postgres"]["environment"]
    expected = f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
    assert services["api"]["environment"]["DATABASE_URL"] == expected + pg["POSTGRES_DB"]


GATEWAY_SERVICES = ("migrate", "api", "worker")
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def test_every_gateway_setting_reaches_every_container_from_an_env_file(
    services: dict[str, dict[str, Any]],
) -> None:
    # An operator turns production on (and sets any GATEWAY_* setting) in .env, never by
    # editing this file; the demo needs no .env at all.
    for name in GATEWAY_SERVICES:
        assert services[name]["env_file"] == [{"path": ".env", "required": False}], name
        env = services[name]["environment"]
        assert env["GATEWAY_ENV"] == "${GATEWAY_ENV:-demo}", name
        # Passed through from the shell or .env, never given a default: an empty key is refused.
        assert "GATEWAY_SECRET_KEY" in env and env["GATEWAY_SECRET_KEY"] is None, name


def test_every_gateway_container_shares_one_data_directory_for_the_demo_key(
    services: dict[str, dict[str, Any]],
) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    mounts = set()
    for name in GATEWAY_SERVICES:
        data_dir = services[name]["environment"]["GATEWAY_DATA_DIR"]
        (mount,) = [v for v in services[name]["volumes"] if v.endswith(":" + data_dir)]
        mounts.add(mount)
    # One named volume for all three, so the key `migrate` writes first is the one they all read.
    (mount,) = mounts
    volume, _, target = mount.partition(":")
    assert volume in compose["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # The unprivileged user can write there (a named volume starts with the image's ownership).
    assert re.search(rf"install -d -o gateway -m 0700 {re.escape(target)}\b", dockerfile)
    assert f"ENV GATEWAY_DATA_DIR={target}" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".data"} <= set(ignored)  # no operator's key is baked into an image


def _container_env(service: dict[str, Any], dotenv: dict[str, str]) -> dict[str, str]:
    """The environment compose gives a container when .env holds `dotenv` and the shell sets
    nothing: env_file values, then `environment` entries interpolated from .env (null = pass
    through when set)."""
    files = [entry["path"] for entry in service.get("env_file", [])]
    env = dict(dotenv) if ".env" in files else {}
    for key, value in service["environment"].items():
        if value is None:
            if key in dotenv:
                env[key] = dotenv[key]
            continue
        env[key] = INTERPOLATION.sub(
            lambda m: dotenv.get(m["name"]) or (m["default"] or ""), str(value)
        )
    return env


def _settings_in(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    for key in list(os.environ):
        if key.startswith("GATEWAY_") or key in settings.BARE_NAMES:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings.load()


def test_containers_start_as_the_demo_without_env_file(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in GATEWAY_SERVICES:
        config = _settings_in(_container_env(services[name], {}), monkeypatch)
        assert config.env == "demo" and config.secret_key is None, name
        assert str(config.data_dir) == "/var/lib/gateway", name


def test_containers_start_in_production_from_env_file(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    dotenv = {
        "GATEWAY_ENV": "production",
        "GATEWAY_SECRET_KEY": key,
        "GATEWAY_WORKER_CONCURRENCY": "7",
        "GATEWAY_DASHBOARD_URL": "https://dashboard.shop.example",
    }
    for name in GATEWAY_SERVICES:
        config = _settings_in(_container_env(services[name], dotenv), monkeypatch)
        assert config.production and not config.test_mode, name
        assert not (config.demo_mode or config.test_endpoints), name
        assert config.secret_key is not None and config.secret_key.get_secret_value() == key
        assert config.worker_concurrency == 7, name
        assert config.dashboard_url == "https://dashboard.shop.example", name


def _console_scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts: dict[str, str] = project["project"]["scripts"]
    return scripts


def _check_gateway_command(argv: list[str]) -> None:
    assert _console_scripts()["gateway"] == "gateway.cli:main"
    args = cli.build_parser().parse_args(argv[1:])  # SystemExit on an unknown subcommand
    assert args.command in cli.HANDLERS


def _check_procrastinate_command(argv: list[str]) -> None:
    (app_option,) = [a for a in argv if a.startswith("--app=")]
    module_name, _, attribute = app_option.removeprefix("--app=").rpartition(".")
    app = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(app, procrastinate.App)
    assert "worker" in argv


@pytest.mark.parametrize("name", ["migrate", "api", "worker"])
def test_every_command_names_a_real_entry_point(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    argv = services[name]["command"]
    assert isinstance(argv, list), "exec form: signals reach the process, not a shell"
    if argv[0] == "gateway":
        _check_gateway_command(argv)
    elif argv[0] == "procrastinate":
        _check_procrastinate_command(argv)
    else:
        pytest.fail(f"{name} runs an unknown program {argv[0]!r}")


def test_commands_are_the_intended_ones(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["command"] == ["gateway", "migrate"]
    # `serve` and not `run`: run would migrate again and start a second worker.
    assert services["api"]["command"] == ["gateway", "serve"]
    # procrastinate's CLI on uvloop (gateway.cli.worker_command).
    assert services["worker"]["command"] == ["gateway", "worker"]


def test_dockerfile_installs_the_package_and_defaults_to_serve() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.1[1-9]", dockerfile, re.M)
    assert "pip install -e ." in dockerfile  # db/ and checkout/ are read beside the package
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, re.M)
    argv = yaml.safe_load(cmd)  # JSON exec form is valid YAML
    assert argv == ["gateway", "serve"]
    _check_gateway_command(argv)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv"} <= set(ignored)
