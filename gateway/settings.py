"""Configuration from the environment.

The contract's variable names (DATABASE_URL, TEST_MODE, ...) work exactly as written; every other
setting also answers to a GATEWAY_ prefix. A bad value stops the process with one line naming it.
"""

from __future__ import annotations

import functools
import sys

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/gateway"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"GATEWAY_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

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

    db_pool_min: int = Field(2, ge=1, validation_alias=_env("DB_POOL_MIN"))
    db_pool_max: int = Field(20, ge=1, validation_alias=_env("DB_POOL_MAX"))
    # How long a request waits for a database connection before answering 503.
    db_pool_timeout: float = Field(5.0, gt=0, le=60, validation_alias=_env("DB_POOL_TIMEOUT"))
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias=_env("MAX_BODY_BYTES"))

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
    public_rate_limit_per_minute: int = Field(
        600, ge=1, validation_alias=_env("PUBLIC_RATE_LIMIT_PER_MINUTE")
    )
    # How long a request holds its Idempotency-Key before a retry may take it over (a crashed
    # request must not block its key for 24 h). A request outliving it rolls back, never doubles.
    idempotency_lease_seconds: float = Field(
        10, gt=0, le=300, validation_alias=_env("IDEMPOTENCY_LEASE_SECONDS")
    )

    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))

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


class SettingsError(SystemExit):
    pass


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ("?",)
    name = str(loc[0]).upper()
    return f"invalid setting {name}: {first.get('msg', 'bad value')}"


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
