"""Fixtures the attack tests borrow from the suites of what they attack."""

from tests.dashboard.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    dash,
    dashboard_app,
    logged_in,
    owner,
    password_hash,
)
