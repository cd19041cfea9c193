"""/openapi.json states what the server enforces, and the server's own answers agree with it:
a client generated from the document sends nothing the domain refuses for its shape, and
whatever breaks a stated rule still gets the contract's envelope, not FastAPI's 422."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import jsonschema_rs
import pytest

from gateway import errors, idempotency, instruments, orders, payments, refunds
from gateway.api import deps
from gateway.api import orders as orders_api
from gateway.api import payments as payments_api
from gateway.api import webhooks as webhooks_api
from gateway.webhooks import deliveries, urls
from tests.conftest import assert_error


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    for parameter in document["paths"][path][method]["parameters"]:
        if parameter["name"] == name:
            schema: dict[str, Any] = parameter["schema"]
            return schema
    raise AssertionError(f"{method.upper()} {path} has no parameter {name}")


def _accepts(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except errors.GatewayError:
        return False
    return True


@pytest.mark.parametrize(
    ("path", "name", "allowed"),
    [
        ("/api/v1/orders", "status", orders.STATUSES),
        ("/api/v1/payments", "status", payments.STATUSES),
        ("/api/v1/payments", "method", payments.METHODS),
        ("/api/v1/refunds", "status", refunds.STATUSES),
        ("/api/v1/webhooks", "status", deliveries.STATUSES),
    ],
)
def test_list_filters_are_enums_of_the_domain_values(
    document: dict[str, Any], path: str, name: str, allowed: tuple[str, ...]
) -> None:
    assert _parameter(document, path, "get", name) == {
        "type": "string",
        "enum": list(allowed),
        "title": name.title(),
    }


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/payments", "/api/v1/refunds"])
def test_limit_and_offset_state_the_pagination_bounds(document: dict[str, Any], path: str) -> None:
    limit = _parameter(document, path, "get", "limit")
    offset = _parameter(document, path, "get", "offset")
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 10)
    assert (offset["minimum"], offset["maximum"]) == (0, 1_000_000)


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ("status=", "status must be one of: pending, success, failed"),
        ("status=captured", "status must be one of: pending, success, failed"),
        ("method=netbanking", "method must be one of: upi, card"),
        ("limit=0", "limit must be between 1 and 100"),
        ("limit=101", "limit must be between 1 and 100"),
        ("offset=-1", "offset must be between 0 and 1000000"),
    ],
)
async def test_values_outside_the_declared_rules_keep_the_domains_400(
    client: httpx.AsyncClient, auth: dict[str, str], query: str, description: str
) -> None:
    body = assert_error(
        await client.get(f"/api/v1/payments?{query}", headers=auth), 400, "BAD_REQUEST_ERROR"
    )
    assert body["error"]["description"] == description


def test_parameters_are_never_null(document: dict[str, Any]) -> None:
    # A query or header value is absent or a string: FastAPI's `anyOf [T, null]` is tidied away.
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                assert "anyOf" not in parameter["schema"], (method, path, parameter)


def test_path_ids_have_no_pattern(document: dict[str, Any]) -> None:
    # An id that cannot exist is a 404 NOT_FOUND_ERROR; a pattern would make clients (and
    # checkers) expect a 400 for it.
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["schema"] == {
                        "type": "string",
                        "title": parameter["schema"]["title"],
                    }, (method, path)
                    assert "404" in operation["responses"], (method, path)


@pytest.mark.parametrize(
    "path", ["/api/v1/orders", "/api/v1/payments", "/api/v1/payments/{payment_id}/refunds"]
)
def test_idempotency_key_pattern_and_its_errors_are_documented(
    document: dict[str, Any], path: str
) -> None:
    key = _parameter(document, path, "post", "idempotency-key")
    assert key["type"] == "string" and key["pattern"] == deps.IDEMPOTENCY_KEY
    responses = document["paths"][path]["post"]["responses"]
    for status in ("409", "422"):
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "Retry-After" in responses["409"]["headers"]


@pytest.mark.parametrize(
    "key",
    ["a", "k" * 255, "order-1 retry 2", "~!@#$%^&*()_+{}|:<>?", " a", "a ", "", "k" * 256,
     "tab\there", "é", "\x00", "\x7f"],
)  # fmt: skip
def test_idempotency_key_pattern_is_check_key_on_what_http_delivers(key: str) -> None:
    # HTTP strips the spaces around a header value, so the document asks for none there; any
    # key it allows passes check_key, and any key check_key refuses it refuses too.
    declared = re.fullmatch(deps.IDEMPOTENCY_KEY, key) is not None
    assert declared == (_accepts(idempotency.check_key, key) and key == key.strip(" \t"))


async def test_an_undeclared_idempotency_key_is_still_the_domains_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/orders", json={"amount": 1000}, headers={**auth, "Idempotency-Key": "k" * 256}
    )
    body = assert_error(r, 400, "BAD_REQUEST_ERROR")
    assert "Idempotency-Key" in body["error"]["description"]


def test_order_body_states_its_bounds(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["OrderCreate"]["properties"]
    assert (schema["amount"]["minimum"], schema["amount"]["maximum"]) == (100, 10**12)
    assert schema["notes"]["maxProperties"] == orders_api.MAX_NOTES
    assert schema["notes"]["propertyNames"]["maxLength"] == orders_api.MAX_NOTE_KEY


@pytest.mark.parametrize(
    "notes",
    [{}, {"k": "v"}, {"k" * 64: "v" * 512}, {"k" * 65: 1}, {"k": "v" * 513},
     {"n": 2**53}, {"n": -(2**53) - 1}, {"b": True, "z": None}, {"f": 1.5}, {"l": [1]},
     {"o": {}}, {f"k{i}": i for i in range(16)}],
)  # fmt: skip
def test_notes_schema_is_the_validator(notes: dict[str, Any]) -> None:
    declared = jsonschema_rs.validator_for(orders_api.NOTES_SCHEMA).is_valid(notes)
    try:
        orders_api.OrderCreate(amount=1000, notes=notes)
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert declared == accepted


def test_payment_body_requires_order_and_method_and_states_the_method_rules(
    document: dict[str, Any],
) -> None:
    schema = document["components"]["schemas"]["PaymentCreate"]
    assert schema["required"] == ["order_id", "method"]
    assert schema["properties"]["method"]["enum"] == list(payments.METHODS)
    upi, card = schema["allOf"]
    assert upi["if"]["properties"]["method"] == {"const": "upi"}
    assert upi["then"]["properties"]["vpa"]["pattern"] == payments_api.VPA
    assert card["if"]["properties"]["method"] == {"const": "card"}


@pytest.mark.parametrize(
    "vpa", ["user@okbank", "a.b_c-d@x1", "user@ok.bank", "@bank", "user@", "user@bank\n", "ü@b"]
)
def test_vpa_pattern_is_the_domains(vpa: str) -> None:
    declared = re.fullmatch(payments_api.VPA, vpa) is not None
    assert declared == _accepts(instruments.check_vpa, vpa)


_LONG_AGO = dt.date(2000, 1, 1)  # so that only the shape of an expiry matters


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", " 4111111111111111 ",
     "411111111111", "4111111111111111111111", "", "4111x1111", "\uff14111111111111111"],
)  # fmt: skip
def test_card_number_pattern_is_the_domains_shape(number: str) -> None:
    # Every well-shaped sample has a valid Luhn check digit, the one rule no pattern can state.
    declared = re.fullmatch(payments_api.CARD_NUMBER, number) is not None
    assert declared == _accepts(instruments.check_card, number, "12", "30", "123", _LONG_AGO)


@pytest.mark.parametrize(
    ("month", "year"),
    [("12", "30"), ("1", "2030"), (" 01 ", " 30 "), ("0", "30"), ("13", "30"), ("00012", "30"),
     ("1", "3"), ("1", "203"), ("1", "20300"), ("a", "30"), ("\u0661", "30"), ("", "30")],
)  # fmt: skip
def test_expiry_patterns_are_the_domains(month: str, year: str) -> None:
    declared = (
        re.fullmatch(payments_api.EXPIRY_MONTH, month) is not None
        and re.fullmatch(payments_api.EXPIRY_YEAR, year) is not None
    )
    assert declared == (re.fullmatch(payments_api.CARD_EXPIRY, f"{month}/{year}") is not None)
    assert declared == _accepts(
        instruments.check_card, "4111111111111111", month, year, "123", _LONG_AGO
    )


@pytest.mark.parametrize("cvv", ["123", "1234", " 123 ", "12", "12345", "12a", ""])
def test_cvv_pattern_is_the_domains(cvv: str) -> None:
    declared = re.fullmatch(payments_api.CVV, cvv) is not None
    assert declared == _accepts(
        instruments.check_card, "4111111111111111", "12", "30", cvv, _LONG_AGO
    )


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "HTTP://example.com", "  http://example.com  ", "", "   ",
     "http://", "ftp://example.com", "example.com", "http//example.com", "javascript:alert(1)"],
)  # fmt: skip
def test_webhook_url_pattern_admits_every_url_the_syntax_check_takes(url: str) -> None:
    # The pattern is the scheme rule only: a URL it allows may still lack a host, and outside
    # test mode it must resolve to a public address, so it is a superset of what is saved.
    declared = re.fullmatch(webhooks_api.WEBHOOK_URL, url) is not None
    saved = not url.strip() or _accepts(urls.check_syntax, url.strip())
    assert declared or not saved


def test_every_operation_documents_its_errors_with_the_envelope(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses or "idempotency-key" in {
                p["name"] for p in operation.get("parameters", [])
            }, (method, path)
            for status in ("400", "405", "429", "500", "503"):
                assert status in responses, (method, path, status)
            assert "Allow" in responses["405"]["headers"]


async def test_405_allow_lists_every_method_of_a_path_served_by_two_routes(
    client: httpx.AsyncClient,
) -> None:
    # GET and PUT /api/v1/webhooks/config are two routes; Starlette alone answered `Allow: GET`.
    for method in ("OPTIONS", "DELETE", "PATCH", "POST"):
        r = await client.request(method, "/api/v1/webhooks/config")
        assert_error(r, 405, "BAD_REQUEST_ERROR")
        assert r.headers["Allow"] == "GET, PUT"


async def test_405_allow_matches_the_documented_methods_of_every_path(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    for template, operations in document["paths"].items():
        path = template.replace("{", "").replace("}", "")  # any id: routing comes first
        r = await client.request("TRACE", path)
        assert r.status_code == 405, (template, r.text)
        assert r.headers["Allow"] == ", ".join(sorted(m.upper() for m in operations)), template
