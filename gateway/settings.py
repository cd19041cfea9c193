"""Configuration from the environment.

The contract's variable names (DATABASE_URL, TEST_MODE, ...) work exactly as written; every other
setting also answers to a GATEWAY_ prefix. A bad value stops the process with one line naming it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/gateway"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Where the demo keeps what it generates for itself (its secret key); git-ignored.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"


# The contract's names (and the conventional LOG_LEVEL) work bare. Every other setting answers
# only to GATEWAY_<NAME>: bare names like API_PORT or HOST collide with variables other tools set
# (Kubernetes injects <SERVICE>_PORT=tcp://... for a service called "api"), which would silently
# rebind or refuse to start the gateway.
BARE_NAMES = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "TEST_MODE",
        "TEST_PAYMENT_SUCCESS",
        "TEST_PROCESSING_DELAY",
        "WEBHOOK_RETRY_INTERVALS_TEST",
        "UPI_SUCCESS_RATE",
        "CARD_SUCCESS_RATE",
        "PROCESSING_DELAY_MIN",
        "PROCESSING_DELAY_MAX",
        "LOG_LEVEL",
    }
)


def _env(name: str) -> AliasChoices:
    if name in BARE_NAMES:
        return AliasChoices(name, f"GATEWAY_{name}")
    return AliasChoices(f"GATEWAY_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # The one production switch. `demo` (default): the seeded test merchant with its published
    # credentials, any-password dashboard login for it, /api/v1/test/*. `production`: none of
    # those, and TEST_MODE is refused.
    env: Literal["demo", "production"] = Field("demo", validation_alias=_env("ENV"))

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("DATABASE_URL"))
    redis_url: str = Field(DEFAULT_REDIS_URL, validation_alias=_env("REDIS_URL"))

    test_mode: bool = Field(False, validation_alias=_env("TEST_MODE"))
    test_payment_success: bool = Field(True, validation_alias=_env("TEST_PAYMENT_SUCCESS"))
    test_processing_delay: int = Field(1000, ge=0, validation_alias=_env("TEST_PROCESSING_DELAY"))
    webhook_retry_intervals_test: bool = Field(
        False, validation_alias=_env("WEBHOOK_RETRY_INTERVALS_TEST")
    )
    upi_success_rate: float = Field(0.90, ge=0, le=1, validation_alias=_env("UPI_SUCCESS_RATE"))
    card_success_rate: float = Field(0.95, ge=0, le=1, validation_alias=_env("CARD_SUCCESS_RATE"))
    processing_delay_min: int = Field(5000, ge=0, validation_alias=_env("PROCESSING_DELAY_MIN"))
    processing_delay_max: int = Field(10000, ge=0, validation_alias=_env("PROCESSING_DELAY_MAX"))
    refund_delay_min: int = Field(3000, ge=0, validation_alias=_env("REFUND_DELAY_MIN"))
    refund_delay_max: int = Field(5000, ge=0, validation_alias=_env("REFUND_DELAY_MAX"))

    # The /api/v1/test/* surface; on by default (the contract's checkers use it).
    test_endpoints: bool = Field(True, validation_alias=_env("TEST_ENDPOINTS"))
    # Demo mode lets the seeded merchant log into the dashboard with any password.
    demo_mode: bool = Field(True, validation_alias=_env("DEMO_MODE"))
    # Loopback/private webhook URLs are refused unless this (or TEST_MODE) is on.
    allow_private_webhook_urls: bool = Field(
        False, validation_alias=_env("ALLOW_PRIVATE_WEBHOOK_URLS")
    )

    api_port: int = Field(8000, ge=1, le=65535, validation_alias=_env("API_PORT"))
    dashboard_port: int = Field(3000, ge=1, le=65535, validation_alias=_env("DASHBOARD_PORT"))
    checkout_port: int = Field(3001, ge=1, le=65535, validation_alias=_env("CHECKOUT_PORT"))
    host: str = Field("0.0.0.0", validation_alias=_env("HOST"))  # noqa: S104 - a server binds all
    public_api_url: str = Field("http://localhost:8000", validation_alias=_env("PUBLIC_API_URL"))
    checkout_url: str = Field("http://localhost:3001", validation_alias=_env("CHECKOUT_URL"))
    dashboard_url: str = Field("http://localhost:3000", validation_alias=_env("DASHBOARD_URL"))

    # API processes `gateway run` / `serve` start (uvicorn --workers): one per core, since one
    # Python process uses one core. The dashboard and the checkout page get one each.
    api_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        validation_alias=_env("API_PROCESSES"),
    )
    db_pool_min: int = Field(2, ge=1, validation_alias=_env("DB_POOL_MIN"))
    db_pool_max: int = Field(20, ge=1, validation_alias=_env("DB_POOL_MAX"))
    # How long a request waits for a database connection before answering 503.
    db_pool_timeout: float = Field(5.0, gt=0, le=60, validation_alias=_env("DB_POOL_TIMEOUT"))
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias=_env("MAX_BODY_BYTES"))

    # Worker processes `gateway run` starts; each is one Python process on one core.
    worker_processes: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        le=64,
        validation_alias=_env("WORKER_PROCESSES"),
    )
    worker_concurrency: int = Field(40, ge=1, validation_alias=_env("WORKER_CONCURRENCY"))
    worker_polling_interval: float = Field(
        0.5, gt=0, le=5, validation_alias=_env("WORKER_POLLING_INTERVAL")
    )
    # A job of a worker silent for this long is re-queued by the maintenance task.
    stalled_worker_seconds: float = Field(15, gt=0, validation_alias=_env("STALLED_WORKER_SECONDS"))
    worker_heartbeat_interval: float = Field(
        3, gt=0, validation_alias=_env("WORKER_HEARTBEAT_INTERVAL")
    )

    rate_limit_per_minute: int = Field(6000, ge=1, validation_alias=_env("RATE_LIMIT_PER_MINUTE"))
    # GET /metrics wants `Authorization: Bearer <token>` when this is set; without it the
    # endpoint is open in the demo and absent (404) in production.
    metrics_token: SecretStr | None = Field(None, validation_alias=_env("METRICS_TOKEN"))
    # How old /health's view of the database, the worker and Redis may be (gateway/api/health.py).
    health_max_age_seconds: float = Field(
        1, ge=0, le=30, validation_alias=_env("HEALTH_MAX_AGE_SECONDS")
    )
    # How long an API process trusts a key it has verified before reading it again: the longest
    # a deactivated merchant or a changed API secret keeps working (gateway/credentials.py).
    credential_cache_seconds: float = Field(
        5, ge=0, le=60, validation_alias=_env("CREDENTIAL_CACHE_SECONDS")
    )
    public_rate_limit_per_minute: int = Field(
        600, ge=1, validation_alias=_env("PUBLIC_RATE_LIMIT_PER_MINUTE")
    )
    # How long a request holds its Idempotency-Key before a retry may take it over (a crashed
    # request must not block its key for 24 h). A request outliving it rolls back, never doubles.
    idempotency_lease_seconds: float = Field(
        10, gt=0, le=300, validation_alias=_env("IDEMPOTENCY_LEASE_SECONDS")
    )

    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))

    # The server key (base64 of 32 random bytes) that encrypts stored secrets and keys the
    # fingerprints of requests: required in production; the demo generates one into data_dir.
    secret_key: SecretStr | None = Field(None, validation_alias=_env("SECRET_KEY"))
    data_dir: Path = Field(DEFAULT_DATA_DIR, validation_alias=_env("DATA_DIR"))

    # Comma-separated extra modules the worker imports for their tasks (tests use it to load
    # test-only tasks into a real worker process without shipping them in the package).
    extra_task_modules: str = Field("", validation_alias=_env("EXTRA_TASK_MODULES"))

    @field_validator("test_mode")
    @classmethod
    def _no_test_mode_in_production(cls, value: bool, info: object) -> bool:
        if value and getattr(info, "data", {}).get("env") == "production":
            raise ValueError("TEST_MODE=true is refused with GATEWAY_ENV=production")
        return value

    @model_validator(mode="after")
    def _production_closes_demo_doors(self) -> Settings:
        """In production the demo doors are shut: their defaults flip to off, and turning one
        on explicitly is refused rather than silently ignored."""
        if self.env != "production":
            return self
        if self.secret_key is None:
            raise ValueError("GATEWAY_SECRET_KEY is required with GATEWAY_ENV=production")
        for name in ("demo_mode", "test_endpoints", "allow_private_webhook_urls"):
            if name in self.model_fields_set and getattr(self, name):
                variable = f"GATEWAY_{name.upper()}"
                raise ValueError(f"{variable}=true is refused with GATEWAY_ENV=production")
            setattr(self, name, False)
        return self

    @field_validator("secret_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                raw = base64.b64decode(value.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError("must be base64 of 32 bytes (e.g. `openssl rand -base64 32`)")
        return value

    @property
    def production(self) -> bool:
        return self.env == "production"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError("must be a logging level such as INFO or DEBUG")
        return value.upper()

    @field_validator("processing_delay_max")
    @classmethod
    def _delay_order(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        if value < data.get("processing_delay_min", 0):
            raise ValueError("must be >= PROCESSING_DELAY_MIN")
        return value

    @field_validator("refund_delay_max")
    @classmethod
    def _refund_delay_order(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        if value < data.get("refund_delay_min", 0):
            raise ValueError("must be >= REFUND_DELAY_MIN")
        return value

    @property
    def private_webhook_urls_allowed(self) -> bool:
        return self.test_mode or self.allow_private_webhook_urls

    @property
    def extra_task_module_list(self) -> list[str]:
        return [name.strip() for name in self.extra_task_modules.split(",") if name.strip()]


class SettingsError(SystemExit):
    pass


def _variable(loc: str) -> str:
    """The environment variable the user actually set for the field behind `loc` (pydantic
    reports the first alias, which is the bare name even when GATEWAY_<NAME> was used)."""
    present = {key.upper() for key in os.environ}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        names = [str(choice).upper() for choice in alias.choices]
        if loc.upper() in names:
            return next((n for n in names if n in present), names[0])
    return loc.upper()


def _describe(error: ValidationError) -> str:
    # One line naming the variable; never the value (a URL may carry a password).
    first = error.errors()[0]
    msg = " ".join(str(first.get("msg", "bad value")).split()).removeprefix("Value error, ")
    loc = first.get("loc")
    if not loc:  # a rule across settings names its variables in the message
        return f"invalid settings: {msg}"
    return f"invalid setting {_variable(str(loc[0]))}: {msg}"


def load() -> Settings:
    """Read the environment now (tests call this after changing it)."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


@functools.cache
def get() -> Settings:
    return load()


def main_guard() -> Settings:
    """For entry points: print the single line and exit 2 instead of a traceback."""
    try:
        return get()
    except SettingsError as error:
        print(f"gateway: {error.code}", file=sys.stderr)
        raise SystemExit(2) from None
