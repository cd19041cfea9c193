"""`python -m bench.run [--quick] [--only create,pipeline,reads]`: every figure of issue 12, with
ratios to PostgreSQL's own ceiling measured in the same run (bench/ceiling.sql).

Every phase runs against its own throwaway database (gateway_bench_<pid>_*), dropped at the end.
The box is shared: read the ratios, not the absolute numbers."""

from __future__ import annotations

import argparse
import os
import platform
import time

from bench import env


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs, 500 payments, 100k rows"
    )
    parser.add_argument("--only", default="create,pipeline,reads")
    args = parser.parse_args()
    phases = set(args.only.split(","))

    from gateway import settings

    config = settings.load()
    print(
        f"gateway bench ({'quick' if args.quick else 'full'}) — {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, PostgreSQL at {env.SERVER}; API, worker,"
        " PostgreSQL, Redis and the load generator share the box"
    )
    print(
        f"as `gateway run` starts them: {config.api_processes} API process(es),"
        f" {config.worker_processes} worker process(es) of concurrency"
        f" {config.worker_concurrency}; TEST_MODE=true, rate limit 10^8/min\n",
        flush=True,
    )
    started = time.monotonic()
    summary: list[list[object]] = []
    with env.Databases() as dbs:
        if "create" in phases:
            from bench import create

            c = create.run(dbs, quick=args.quick)
            print(c.text + "\n", flush=True)
            upi, idem, card = c.rows["upi"], c.rows["idem"], c.rows["card"]
            summary += [
                ["create-payment UPI ÷ ceiling", f"{upi.ratio:.3f}", "≥ 0.30"],
                ["create-payment UPI p99 ms", f"{upi.result.p99_ms:.1f}", "≤ 25"],
                ["create-payment non-201", upi.result.errors, "0"],
                ["with Idempotency-Key ÷ ceiling", f"{idem.ratio:.3f}", "≥ 0.20"],
                # Each against the ceiling measured around it: the box's speed moves between
                # the two runs, so their raw req/s do not compare.
                ["card ÷ UPI (each ÷ its ceiling)", f"{card.ratio / upi.ratio:.2f}", "≥ 0.90"],
                ["GET /health req/s", f"{c.rows['health'].result.rps:,.0f}", "≥ 5,000"],
            ]
        if "pipeline" in phases:
            from bench import pipeline

            p = pipeline.run(dbs, quick=args.quick, worker_processes=config.worker_processes)
            print(p.text + "\n", flush=True)
            summary += [
                ["2,000 payments end to end s" if not args.quick else "500 payments end to end s",
                 f"{p.total_seconds:.1f}", "≤ 20 (2,000)"],
                ["commit → first attempt p95 ms", f"{p.commit_to_attempt_p95_ms:.0f}", "≤ 250"],
                ["one worker draining jobs/s", f"{p.drain_jobs_per_second:.0f}", "≥ 500"],
            ]  # fmt: skip
        if "reads" in phases:
            from bench import reads

            r = reads.run(dbs, quick=args.quick)
            print(r.text + "\n", flush=True)
            summary.append(["slowest read, median ms", f"{r.worst_ms:.1f}", "≤ 50"])
    print(env.table("Targets (issue 12)", ["figure", "measured", "target"], summary))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
