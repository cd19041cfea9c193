"""The yardsticks: PostgreSQL's own ceiling for a durable create-payment (bench/ceiling.sql,
a copy of ../shared/bench/ceiling.sql, run by pgbench at 8 clients) and wrk against the API.

The box is shared and noisy, so every gateway figure is bracketed by ceiling runs taken just
before and just after it, and reported as a ratio to their mean."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import env

HERE = Path(__file__).resolve().parent
THREADS = 2  # wrk threads: one per core


class Ceiling:
    """pgbench -n -c 8 -j 2 -f ceiling.sql in a scratch database of the same server."""

    def __init__(self, dbs: env.Databases, seconds: int) -> None:
        self.url = dbs.empty("ceiling")
        self.seconds = seconds
        subprocess.run(
            ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", str(HERE / "ceiling-setup.sql"),
             self.url],
            check=True, capture_output=True,
        )  # fmt: skip

    def tps(self) -> float:
        out = subprocess.run(
            ["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(self.seconds),
             "-f", str(HERE / "ceiling.sql"), self.url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        match = re.search(r"tps = ([\d.]+)", out)
        if not match:
            raise RuntimeError("pgbench printed no tps:\n" + out)
        return float(match.group(1))


@dataclass
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(out: str, label: str) -> float:
    match = re.search(label + r"\s+([\d.]+)(us|ms|s|m)\b", out)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


CREATE_PAYMENT = HERE / "create_payment.lua"
AUTHENTICATED_GET = HERE / "authenticated_get.lua"


def wrk(
    url: str,
    seconds: int,
    *,
    script: Path | None = None,
    script_env: dict[str, str] | None = None,
    connections: int = 8,
) -> Wrk:
    """wrk -t2 -c8 -dN --latency [-s script]; the script gets the test merchant's credentials
    and `script_env` in its environment."""
    argv = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    environ = dict(os.environ)
    if script is not None:
        argv += ["-s", str(script)]
        environ.update(
            {"BENCH_KEY": env.API_KEY, "BENCH_SECRET": env.API_SECRET,
             "BENCH_THREADS": str(THREADS), **(script_env or {})}
        )  # fmt: skip
    out = subprocess.run(
        [*argv, url], env=environ, capture_output=True, text=True, check=True
    ).stdout
    if os.environ.get("BENCH_DEBUG"):
        print(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Wrk(rps, _ms(out, "50%"), _ms(out, "99%"), total, errors)
