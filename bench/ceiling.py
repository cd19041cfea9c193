"""Phase 1: create-payment throughput and latency against the same SQL run by pgbench."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import client, env

HERE = Path(__file__).resolve().parent
THREADS = 2  # wrk threads: one per core; wrk itself costs little CPU


@dataclass
class WrkResult:
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(out: str, label: str) -> float:
    match = re.search(label + r"\s+([\d.]+)(us|ms|s|m)\b", out)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(base: str, orders_file: str, connections: int, seconds: int) -> WrkResult:
    environ = dict(os.environ)
    environ.update(
        {
            "BENCH_ORDERS": orders_file,
            "BENCH_KEY": env.API_KEY,
            "BENCH_SECRET": env.API_SECRET,
            "BENCH_THREADS": str(THREADS),
        }
    )
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(THREADS, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "create_payment.lua"),
            base + "/api/v1/payments",
        ],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if os.environ.get("BENCH_DEBUG"):
        print(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p99 = _ms(out, "50%"), _ms(out, "99%")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return WrkResult(connections, rps, p50, p99, errors)


def pgbench(db_url: str, norders: int, clients: int, seconds: int) -> float:
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            f"-c{clients}",
            f"-j{min(2, clients)}",
            f"-T{seconds}",
            "-D",
            f"norders={norders}",
            "-f",
            str(HERE / "pgbench_create_payment.sql"),
            db_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError("pgbench printed no tps:\n" + out)
    return float(match.group(1))


@dataclass
class Report:
    text: str
    api_peak_rss_mb: float
    ratio: float
    half_p99_ms: float


def run(dbs: env.Databases, *, quick: bool) -> Report:
    db_url = dbs.fresh("ceiling")
    levels = [16, 64] if quick else [8, 32, 64, 128]
    worker_counts = [1, 2]
    seconds = 6 if quick else 15
    repeats = 2
    norders = 20000
    orders = env.seed_orders(db_url, norders, "w")
    env.seed_orders(db_url, norders, "p")
    rows: list[list[object]] = []
    best_api: dict[int, WrkResult] = {}
    best_by: dict[tuple[int, int], WrkResult] = {}
    peak_rss = 0.0
    half_rows: list[list[object]] = []
    half_best_p99 = float("inf")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(orders) + "\n")
        orders_file = f.name
    try:
        for workers in worker_counts:
            with env.api(db_url, workers) as api:
                wrk(api.base, orders_file, 16, 2)  # warm-up: pools filled, statements prepared
                for c in levels:
                    for _ in range(repeats):
                        r = wrk(api.base, orders_file, c, seconds)
                        key = (workers, c)
                        if key not in best_by or r.rps > best_by[key].rps:
                            best_by[key] = r
                    best = best_by[(workers, c)]
                    rows.append([workers, c, best.rps, best.p50_ms, best.p99_ms, best.errors])
                    if c not in best_api or best.rps > best_api[c].rps:
                        best_api[c] = best
                peak_rss = max(peak_rss, api.peak_rss_mb())
        # Half the peak: the best configuration, open loop, at 50 % of its best rate.
        peak_workers, peak_c = max(best_by, key=lambda k: best_by[k].rps)
        peak = best_by[(peak_workers, peak_c)].rps
        rate = peak / 2
        count = int(rate * (5 if quick else 10))
        with env.api(db_url, peak_workers) as api:
            wrk(api.base, orders_file, 16, 2)
            for _ in range(repeats):
                latencies, errors, achieved = asyncio.run(
                    client.open_loop(api.port, orders[:count], rate, connections=64)
                )
                p50 = env.percentile(latencies, 50)
                p99 = env.percentile(latencies, 99)
                half_rows.append([peak_workers, rate, achieved, p50, p99, errors])
                half_best_p99 = min(half_best_p99, p99)
            peak_rss = max(peak_rss, api.peak_rss_mb())
        # pgbench at matching client counts, same database server, same run.
        pg_rows: list[list[object]] = []
        pg_best = 0.0
        for c in levels:
            tps = max(pgbench(db_url, norders, c, seconds) for _ in range(repeats))
            pg_best = max(pg_best, tps)
            api_best = best_api[c].rps
            pg_rows.append([c, tps, api_best, api_best / tps])
    finally:
        Path(orders_file).unlink()
    api_peak = max(r.rps for r in best_api.values())
    ratio = api_peak / pg_best
    text = "\n\n".join(
        [
            env.table(
                f"1a. POST /api/v1/payments with wrk ({THREADS} threads, {seconds} s per run,"
                f" best of {repeats})",
                ["uvicorn workers", "connections", "req/s", "p50 ms", "p99 ms", "errors"],
                rows,
            ),
            env.table(
                f"1b. pgbench, same SQL in one transaction (-M prepared, {seconds} s, best of"
                f" {repeats})",
                ["clients", "pgbench tps", "API req/s (best)", "API / pgbench"],
                pg_rows,
            ),
            env.table(
                f"1c. Open loop at half the peak ({peak:,.0f} req/s peak with {peak_workers}"
                f" worker(s), {peak_c} connections); latency from the scheduled send time",
                ["uvicorn workers", "target req/s", "achieved", "p50 ms", "p99 ms", "errors"],
                half_rows,
            ),
            f"API peak {api_peak:,.0f} req/s ÷ pgbench peak {pg_best:,.0f} tps ="
            f" {ratio:.0%} (target ≥ 40 %); p99 at half the peak {half_best_p99:.1f} ms"
            " (target ≤ 50 ms)",
        ]
    )
    return Report(text, peak_rss, ratio, half_best_p99)
