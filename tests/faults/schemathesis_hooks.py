"""schemathesis hooks for tests/faults/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

from typing import Any

import schemathesis


def _integers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers(item) for item in value]
    return value


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case[Any], kwargs: dict[str, Any]
) -> None:
    """Send integers as integers. OpenAPI 3.1 counts `100.0` as an integer and schemathesis
    sends some that way; the gateway takes an integer field (an amount, a note) only when it is
    written without a fraction (StrictInt; tests/test_orders.py holds `{"amount": 100.0}` to a
    400), a rule the document cannot state."""
    case.body = _integers(case.body)
