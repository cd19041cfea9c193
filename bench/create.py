"""Phase 1: the API under wrk, each figure bracketed by PostgreSQL ceiling runs.

- POST /api/v1/payments, c=8: UPI, UPI with an Idempotency-Key on every request, and card,
  each on fresh unpaid orders (targets: UPI at 0.30 of the ceiling or more, p99 ≤ 25 ms,
  0 non-201; with keys 0.20 or more; card within 10 % of UPI);
- GET /health, c=8 (target ≥ 5,000 req/s);
- GET /api/v1/orders/{id}, c=8 (for scale: a single authenticated read)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import ceiling, env


@dataclass
class Row:
    what: str
    result: ceiling.Wrk
    before: float
    after: float

    @property
    def ceiling(self) -> float:
        return (self.before + self.after) / 2

    @property
    def ratio(self) -> float:
        return self.result.rps / self.ceiling


@dataclass
class Report:
    text: str
    rows: dict[str, Row]
    api_peak_rss_mb: float


def run(dbs: env.Databases, *, quick: bool) -> Report:
    seconds = 6 if quick else 12
    db_url = dbs.fresh("create")
    yard = ceiling.Ceiling(dbs, seconds)
    # More orders than three runs can use: every request meets a fresh, unpaid order.
    per_run = 60_000 if not quick else 25_000
    files = {}
    for mode, prefix in (("upi", "u"), ("idem", "i"), ("card", "c")):
        orders = env.seed_orders(db_url, per_run, prefix)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(orders) + "\n")
            files[mode] = f.name
    order_id = env.seed_orders(db_url, 1, "g")[0]
    rows: dict[str, Row] = {}
    try:
        with env.api(db_url) as api:
            # Warm-up: pools filled, statements prepared, credentials cached.
            ceiling.wrk(
                api.base + "/api/v1/payments",
                2,
                script=ceiling.CREATE_PAYMENT,
                script_env={"BENCH_ORDERS": files["upi"]},
            )
            before = yard.tps()
            for mode in ("upi", "idem", "card"):
                result = ceiling.wrk(
                    api.base + "/api/v1/payments",
                    seconds,
                    script=ceiling.CREATE_PAYMENT,
                    script_env={"BENCH_ORDERS": files[mode], "BENCH_MODE": mode},
                )
                after = yard.tps()
                rows[mode] = Row(f"POST /api/v1/payments ({mode})", result, before, after)
                before = after
            result = ceiling.wrk(api.base + "/health", seconds)
            after = yard.tps()
            rows["health"] = Row("GET /health", result, before, after)
            before = after
            result = ceiling.wrk(
                api.base + f"/api/v1/orders/{order_id}", seconds, script=ceiling.AUTHENTICATED_GET
            )
            after = yard.tps()
            rows["order"] = Row("GET /api/v1/orders/{id}", result, before, after)
            rss = api.peak_rss_mb()
    finally:
        for name in files.values():
            Path(name).unlink()
    table = env.table(
        f"1. API under wrk (2 threads, 8 connections, {seconds} s); ceiling = pgbench c=8"
        " ceiling.sql, mean of the runs just before and after",
        ["request", "req/s", "p50 ms", "p99 ms", "non-2xx", "ceiling tps", "÷ ceiling"],
        [
            [r.what, r.result.rps, r.result.p50_ms, r.result.p99_ms, r.result.errors, r.ceiling,
             f"{r.ratio:.3f}"]
            for r in rows.values()
        ],
    )  # fmt: skip
    return Report(table, rows, rss)
