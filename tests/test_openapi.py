"""/openapi.json states what the server enforces, and the server's own answers agree with it."""

from __future__ import annotations

import httpx

from tests.conftest import assert_error


async def test_405_allow_lists_every_method_of_a_path_served_by_two_routes(
    client: httpx.AsyncClient,
) -> None:
    # GET and PUT /api/v1/webhooks/config are two routes; Starlette alone answered `Allow: GET`.
    for method in ("OPTIONS", "DELETE", "PATCH", "POST"):
        r = await client.request(method, "/api/v1/webhooks/config")
        assert_error(r, 405, "BAD_REQUEST_ERROR")
        assert r.headers["Allow"] == "GET, PUT"


async def test_405_allow_matches_the_documented_methods_of_every_path(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for template, operations in paths.items():
        path = template.replace("{", "").replace("}", "")  # any id: routing comes first
        r = await client.request("TRACE", path)
        assert r.status_code == 405, (template, r.text)
        assert r.headers["Allow"] == ", ".join(sorted(m.upper() for m in operations)), template
