"""The simulated bank: whether a payment goes through, and how long the bank takes to answer a
payment or a refund. Money movement is the one thing this gateway fakes; the odds and delays come
from the contract's settings (fixed outcome and delay in TEST_MODE)."""

from __future__ import annotations

import datetime as dt
import secrets

from gateway import settings

DECLINED = ("PAYMENT_FAILED", "Payment declined by the bank")


def approves(method: str, config: settings.Settings) -> bool:
    if config.test_mode:
        return config.test_payment_success
    rate = config.upi_success_rate if method == "upi" else config.card_success_rate
    return secrets.randbelow(1_000_000) < int(rate * 1_000_000)


def _between(low_ms: int, high_ms: int) -> dt.timedelta:
    high_ms = max(low_ms, high_ms)
    return dt.timedelta(milliseconds=low_ms + secrets.randbelow(high_ms - low_ms + 1))


def payment_delay(config: settings.Settings) -> dt.timedelta:
    if config.test_mode:
        return dt.timedelta(milliseconds=config.test_processing_delay)
    return _between(config.processing_delay_min, config.processing_delay_max)


def refund_delay(config: settings.Settings) -> dt.timedelta:
    return _between(config.refund_delay_min, config.refund_delay_max)
