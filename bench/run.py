"""`python -m bench.run [--quick] [--only ceiling,pipeline,latency]`: the four benchmark tables.

Every phase runs against its own throwaway database (gateway_bench_<pid>_*), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from bench import env


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="the under-5-minute version")
    parser.add_argument("--only", default="ceiling,pipeline,latency")
    parser.add_argument(
        "--worker-processes", type=int, default=1, help="procrastinate workers in the pipeline"
    )
    args = parser.parse_args()
    phases = set(args.only.split(","))

    from gateway import settings

    config = settings.load()
    print(
        f"gateway bench ({'quick' if args.quick else 'full'}) — {os.cpu_count()} cores,"
        f" {platform.python_version()}, PostgreSQL at {env.SERVER};"
        " API and worker on the same box as the load generator"
    )
    print(
        f"settings: db_pool_min={config.db_pool_min} db_pool_max={config.db_pool_max}"
        f" worker_concurrency={config.worker_concurrency}"
        f" worker_polling_interval={config.worker_polling_interval}s"
        " TEST_MODE=true rate limit 100000000/min (bench only)\n"
    )
    started = time.monotonic()
    memory: list[list[object]] = []
    with env.Databases() as dbs:
        if "ceiling" in phases:
            from bench import ceiling

            c = ceiling.run(dbs, quick=args.quick)
            print(c.text + "\n", flush=True)
            memory.append(["1 ceiling", "API (per uvicorn worker)", c.api_peak_rss_mb])
        if "pipeline" in phases:
            from bench import pipeline

            p = pipeline.run(dbs, quick=args.quick, worker_processes=args.worker_processes)
            print(p.text + "\n", flush=True)
            memory.append(["2 pipeline", "API (per uvicorn worker)", p.api_peak_rss_mb])
            memory.append(["2 pipeline", "worker", p.worker_peak_rss_mb])
        if "latency" in phases:
            from bench import latency

            lat = latency.run(dbs, quick=args.quick)
            print(lat.text + "\n", flush=True)
            memory.append(["3 latency", "worker", lat.worker_peak_rss_mb])
    print(env.table("4. Memory: peak RSS (VmHWM)", ["phase", "process", "peak RSS MB"], memory))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
