"""Phase 3: reads at a million rows. One merchant (the seeded test merchant) gets 1,000,000
orders, payments, refunds and webhook deliveries (and a million finished jobs), bulk-loaded
through the same triggers as live traffic; then every list endpoint (first page, filtered page,
a deep page by offset and by cursor) and every dashboard page is timed (target ≤ 50 ms each)."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

import httpx
import psycopg

from bench import env

# One statement per table; created_at one second apart, newest last, so "newest first" means
# something and a deep page is deep. Statuses and methods are mixed as live traffic mixes them.
LOAD = [
    "INSERT INTO orders (id, merchant_id, amount, status, created_at, updated_at)"
    " SELECT 'order_r' || lpad(n::text, 15, '0'), %(m)s, 50000,"
    " CASE WHEN n %% 10 = 0 THEN 'created' ELSE 'paid' END,"
    " now() - (%(n)s - n) * interval '1 second', now() - (%(n)s - n) * interval '1 second'"
    " FROM generate_series(1, %(n)s) n",
    "INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, status, vpa,"
    " card_network, card_last4, amount_refunded, created_at, updated_at)"
    " SELECT 'pay_r' || lpad(n::text, 15, '0'), 'order_r' || lpad(n::text, 15, '0'), %(m)s,"
    " 50000, 'INR', CASE WHEN n %% 3 = 0 THEN 'card' ELSE 'upi' END,"
    " CASE WHEN n %% 10 = 0 THEN 'failed' WHEN n %% 1000 = 1 THEN 'pending' ELSE 'success' END,"
    " CASE WHEN n %% 3 = 0 THEN NULL ELSE 'bench@upi' END,"
    " CASE WHEN n %% 3 = 0 THEN 'visa' END, CASE WHEN n %% 3 = 0 THEN '1111' END,"
    " CASE WHEN n %% 10 = 0 OR n %% 1000 = 1 THEN 0 ELSE 100 END,"
    " now() - (%(n)s - n) * interval '1 second', now() - (%(n)s - n) * interval '1 second'"
    " FROM generate_series(1, %(n)s) n",
    "INSERT INTO refunds (id, payment_id, merchant_id, amount, status, created_at, processed_at)"
    " SELECT 'rfnd_r' || lpad(n::text, 15, '0'), 'pay_r' || lpad(n::text, 15, '0'), %(m)s,"
    " 100, CASE WHEN n %% 500 = 0 THEN 'pending' ELSE 'processed' END,"
    " now() - (%(n)s - n) * interval '1 second',"
    " CASE WHEN n %% 500 = 0 THEN NULL ELSE now() END"
    " FROM generate_series(1, %(n)s) n WHERE n %% 10 <> 0 AND n %% 1000 <> 1",
    "INSERT INTO events (id, merchant_id, type, resource_id, payload, created_at)"
    " SELECT 'evt_r' || lpad(n::text, 15, '0'), %(m)s, 'payment.success',"
    " 'pay_r' || lpad(n::text, 15, '0'), '{}', now() - (%(n)s - n) * interval '1 second'"
    " FROM generate_series(1, %(n)s) n",
    "INSERT INTO webhook_logs (id, merchant_id, event_id, event, resource_id, payload, status,"
    " attempts, created_at, updated_at)"
    " SELECT gen_random_uuid(), %(m)s, 'evt_r' || lpad(n::text, 15, '0'),"
    " CASE WHEN n %% 4 = 0 THEN 'payment.created' ELSE 'payment.success' END,"
    " 'pay_r' || lpad(n::text, 15, '0'), '{}',"
    " CASE WHEN n %% 100 = 0 THEN 'failed' ELSE 'success' END, 1,"
    " now() - (%(n)s - n) * interval '1 second', now()"
    " FROM generate_series(1, %(n)s) n",
    "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)"
    " SELECT 'webhooks', 'deliver_webhook', '{}', 'succeeded', now()"
    " FROM generate_series(1, %(n)s) n",
]


@dataclass
class Report:
    text: str
    worst_ms: float


def _load(db_url: str, n: int) -> float:
    started = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        for statement in LOAD:
            conn.execute(statement, {"m": env.MERCHANT_ID, "n": n})
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def _time(client: httpx.Client, path: str, repeats: int) -> tuple[float, float, int]:
    """(median ms, worst ms, status) of GET path, after one warm-up."""
    client.get(path)
    samples = []
    status = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        status = r.status_code
    return statistics.median(samples), max(samples), status


def _dashboard_login(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, "no login form"
    r = client.post(
        "/login",
        data={"email": "test@example.com", "password": "demo", "csrf_token": token.group(1)},
    )
    if r.status_code != 303:
        raise RuntimeError(f"dashboard login failed: {r.status_code}")


def run(dbs: env.Databases, *, quick: bool) -> Report:
    n = 100_000 if quick else 1_000_000
    repeats = 5
    db_url = dbs.fresh("reads")
    load_seconds = _load(db_url, n)
    deep = f"pay_r{n - 900_000 if n > 900_000 else n // 10:015d}"
    deep_order = deep.replace("pay_", "order_")
    offset = min(900_000, n - 20)
    checks = [
        ("payments, first page", "/api/v1/payments?limit=10"),
        ("payments ?status=success", "/api/v1/payments?limit=10&status=success"),
        ("payments ?status=pending (rare)", "/api/v1/payments?limit=10&status=pending"),
        ("payments ?method=card", "/api/v1/payments?limit=10&method=card"),
        (f"payments offset={offset:,}", f"/api/v1/payments?limit=10&offset={offset}"),
        ("payments starting_after (deep)", f"/api/v1/payments?limit=10&starting_after={deep}"),
        ("orders, first page", "/api/v1/orders?limit=10"),
        ("orders ?status=created", "/api/v1/orders?limit=10&status=created"),
        (f"orders offset={offset:,}", f"/api/v1/orders?limit=10&offset={offset}"),
        ("orders starting_after (deep)", f"/api/v1/orders?limit=10&starting_after={deep_order}"),
        ("refunds, first page", "/api/v1/refunds?limit=10"),
        ("refunds ?status=pending", "/api/v1/refunds?limit=10&status=pending"),
        ("refunds ?payment_id=", f"/api/v1/refunds?payment_id={deep}"),
        ("webhooks, first page", "/api/v1/webhooks?limit=10"),
        ("webhooks ?status=failed", "/api/v1/webhooks?limit=10&status=failed"),
        ("webhooks ?event=payment.created", "/api/v1/webhooks?limit=10&event=payment.created"),
        ("webhooks ?resource_id=", f"/api/v1/webhooks?resource_id={deep}"),
        (f"webhooks offset={offset:,}", f"/api/v1/webhooks?limit=10&offset={offset}"),
        ("test/jobs/status (1M finished jobs)", "/api/v1/test/jobs/status"),
    ]
    pages = [
        ("dashboard home (stats)", "/dashboard"),
        ("dashboard transactions", "/dashboard/transactions"),
        ("dashboard transactions ?status=pending", "/dashboard/transactions?status=pending"),
        ("dashboard transactions page 2,000", "/dashboard/transactions?page=2000"),
        ("dashboard payment page", f"/dashboard/transactions/{deep}"),
        ("dashboard webhooks", "/dashboard/webhooks"),
        ("dashboard webhooks ?status=failed", "/dashboard/webhooks?status=failed"),
    ]
    rows: list[list[object]] = []
    worst = 0.0
    headers = {"X-Api-Key": env.API_KEY, "X-Api-Secret": env.API_SECRET}
    with env.api(db_url, workers=1) as api, httpx.Client(base_url=api.base, headers=headers) as c:
        for what, path in checks:
            median, slowest, status = _time(c, path, repeats)
            worst = max(worst, median)
            rows.append([what, median, slowest, status])
    with env.dashboard(db_url) as base, httpx.Client(base_url=base) as d:
        _dashboard_login(d)
        for what, path in pages:
            median, slowest, status = _time(d, path, repeats)
            worst = max(worst, median)
            rows.append([what, median, slowest, status])
    text = env.table(
        f"3. Reads with {n:,} orders, payments, webhook deliveries and finished jobs and"
        f" {int(n * 0.899):,} refunds for one merchant (loaded in {load_seconds:.0f} s);"
        f" median of {repeats} after a warm-up, one client",
        ["request", "median ms", "worst ms", "status"],
        rows,
    )
    return Report(text, worst)
