"""GET /metrics: Prometheus exposition of every process of this host (gateway/metrics.py), plus
the job queue's depth read now. Outside /api/v1, so neither rate limited nor in the API's
OpenAPI document. Guarded by GATEWAY_METRICS_TOKEN when set; closed in production without one
(request rates and queue depth are an operator's business)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from gateway import db, errors, metrics
from gateway.api import deps

router = APIRouter(include_in_schema=False)

# The partial index procrastinate keeps on unfinished jobs serves this; finished jobs, however
# many, are not read.
_DEPTH = (
    "SELECT queue_name, status::text AS status, count(*) AS n FROM procrastinate_jobs"
    " WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
)


@router.get("/metrics")
async def metrics_endpoint(
    conn: deps.Conn,
    config: deps.Config,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    token = config.metrics_token.get_secret_value() if config.metrics_token else None
    if token is None and config.production:
        raise errors.NotFound("The requested URL was not found")
    if token is not None:
        given = (authorization or "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, token.encode()):
            raise errors.Unauthorized("A metrics token is required")
    rows = await db.fetch_all(conn, _DEPTH)
    depth = {(row["queue_name"], row["status"]): int(row["n"]) for row in rows}
    return Response(metrics.render(depth), media_type=metrics.CONTENT_TYPE)
