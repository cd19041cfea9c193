"""`gateway run` as an operator's process: whatever way it stops, it leaves nothing of its own
running, the embedded PostgreSQL it may start included. Real processes throughout, found through
Linux /proc."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gateway import settings
from tests import conftest, services
from tests.helpers import wait_until_sync

# What `gateway run` starts: the API (one uvicorn process, which forks its own), the dashboard,
# the checkout page and the configured number of worker processes.
CHILDREN = 3 + settings.load().worker_processes

# The children are listed from /proc, and the parent-death signal that stops them after a SIGKILL
# is Linux's prctl(PR_SET_PDEATHSIG): elsewhere the behaviour under test does not exist.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs Linux /proc and PR_SET_PDEATHSIG"
)

GATEWAY = Path(sys.executable).parent / "gateway"
READY_SECONDS = 120  # a bound, not a wait: a cold start (initdb included) on a busy machine is slow
GONE_SECONDS = 10


@dataclass(frozen=True)
class Proc:
    """A process by pid and start time, so a reused pid is never mistaken for it."""

    pid: int
    start: str

    @classmethod
    def of(cls, pid: int) -> Proc:
        start = _start_time(pid)
        assert start is not None, f"process {pid} is already gone"
        return cls(pid, start)

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a live process; None when it is gone or a zombie (an orphan's
    zombie lingers until init reaps it, but it runs nothing and holds no port)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    state, start = fields[0], fields[19]
    return None if state in {"Z", "X"} else start


def children(pid: int) -> list[Proc]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [Proc.of(int(child)) for child in text.split()]


def wait_gone(procs: list[Proc], seconds: float = GONE_SECONDS) -> list[Proc]:
    """Polls until every process has exited; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + seconds
    alive = [p for p in procs if p.alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if p.alive()]
    return alive


def kill_leftovers(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.alive():
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    api: str
    ports: dict[str, str]
    log: Path
    seen: list[Proc] = field(default_factory=list)

    def children(self) -> list[Proc]:
        """Its children now, remembered so that a failing test's leftovers can be killed."""
        kids = children(self.process.pid)
        self.seen.extend(kids)
        return kids

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_healthy(self) -> dict[str, str]:
        """Polls /health until a worker's heartbeat shows: then every child is up."""
        deadline = time.monotonic() + READY_SECONDS
        health: dict[str, str] = {}
        while time.monotonic() < deadline and health.get("worker") != "running":
            assert self.process.poll() is None, f"gateway run exited early:\n{self.output()}"
            with suppress(httpx.HTTPError, ValueError):
                health = httpx.get(f"{self.api}/health", timeout=1).json()
            time.sleep(0.2)
        assert health.get("database") == "connected", f"{health}\n{self.output()}"
        assert health.get("worker") == "running", f"{health}\n{self.output()}"
        return health


def start_run(env: dict[str, str], log: Path) -> Run:
    ports = {name: str(free_port()) for name in ("API", "DASHBOARD", "CHECKOUT")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GATEWAY), "run"],
            env={
                **env,
                **{f"GATEWAY_{name}_PORT": port for name, port in ports.items()},
                "GATEWAY_HOST": "127.0.0.1",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            # A group of its own, as a shell gives a job: Ctrl-C can then be sent the way a
            # terminal sends it, to the whole foreground group.
            process_group=0,
        )
    return Run(process, f"http://127.0.0.1:{ports['API']}", ports, log)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """Started runs; whatever a failing test leaves behind is killed, children included."""
    started: list[Run] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            run.children()
            run.process.kill()
            run.process.wait()
        kill_leftovers(run.seen)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database of its own: the worker heartbeat /health reports is then this run's alone."""
    name = services.fresh_database_name().replace("gateway_test_", "gateway_run_")
    yield services.with_database(conftest.DATABASE_URL, name)
    services.drop_database(conftest.DATABASE_URL, name)


def test_gateway_run_serves_health_and_sigterm_stops_every_child(
    runs: list[Run], fresh_database: str, tmp_path: Path
) -> None:
    # A database of its own: on the session's, a heartbeat row left by another test's worker
    # made /health say "running" before this run's own children were up.
    run = start_run({**os.environ, "DATABASE_URL": fresh_database}, tmp_path / "run.log")
    runs.append(run)
    run.wait_healthy()
    for name in ("DASHBOARD", "CHECKOUT"):

        def answers(port: str = run.ports[name]) -> int:
            with suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code
            return 0

        assert wait_until_sync(answers, timeout=READY_SECONDS, what=name) < 500, name
    kids = run.children()
    assert len(kids) == CHILDREN  # API, dashboard, checkout, the workers

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=20) == 0, run.output()
    assert not [p for p in kids if p.alive()]


def test_sigkilled_gateway_run_takes_its_children_with_it(
    runs: list[Run], fresh_database: str, tmp_path: Path
) -> None:
    run = start_run({**os.environ, "DATABASE_URL": fresh_database}, tmp_path / "run.log")
    runs.append(run)
    run.wait_healthy()
    kids = run.children()
    assert len(kids) == CHILDREN  # API, dashboard, checkout, the workers

    run.process.kill()
    run.process.wait()
    survivors = wait_gone(kids)
    assert not survivors, f"orphans outlived a SIGKILLed gateway run: {survivors}"
    # Gone means stopped serving, not merely re-parented somewhere.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{run.api}/health", timeout=1)


def postmaster(pgdata: Path) -> Proc:
    return Proc.of(int((pgdata / "postmaster.pid").read_text().split()[0]))


@pytest.fixture
def pgdata() -> Iterator[Path]:
    """A data directory for an embedded server of the test's own, never the developer's .pgdata.

    Under /tmp rather than pytest's tmp_path: run as root, pgserver opens every parent of the
    data directory to its `pgserver` user, and pytest's base directory should stay private.
    """
    if importlib.util.find_spec("pgserver") is None:
        pytest.fail("pgserver is not installed; `make install` installs the embedded extra")
    base = Path(tempfile.mkdtemp(prefix="gateway-pgdata-"))
    yield base / "pgdata"
    pid_file = base / "pgdata" / "postmaster.pid"
    if pid_file.exists():  # a server a failed test left running
        pid = int(pid_file.read_text().split()[0])
        start = _start_time(pid)
        if start is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # postgres' fast shutdown
            kill_leftovers(wait_gone([Proc(pid, start)]))
    shutil.rmtree(base, ignore_errors=True)


def embedded_env(pgdata: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "GATEWAY_DATABASE_URL"}}
    return {**env, "GATEWAY_EMBEDDED_PGDATA": str(pgdata)}


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_embedded_postgres_started_by_run_stops_with_it(
    stop: str, runs: list[Run], pgdata: Path, tmp_path: Path
) -> None:
    run = start_run(embedded_env(pgdata), tmp_path / "run.log")
    runs.append(run)
    run.wait_healthy()
    assert f"started an embedded PostgreSQL in {pgdata}" in run.output()
    server = postmaster(pgdata)
    backends = children(server.pid)
    kids = run.children()
    assert len(kids) == CHILDREN + 1  # and the embedded server's reaper

    if stop == "sigterm":
        run.process.send_signal(signal.SIGTERM)
    else:
        os.killpg(run.process.pid, signal.SIGINT)
    assert run.process.wait(timeout=60) == 0, run.output()
    # gateway run waits for the server to stop before it exits.
    assert not [p for p in [*kids, server, *backends] if p.alive()], run.output()
    # A clean shutdown, not a kill: postgres removes its pid file last.
    assert not (pgdata / "postmaster.pid").exists()


def test_embedded_postgres_stops_when_run_is_sigkilled(
    runs: list[Run], pgdata: Path, tmp_path: Path
) -> None:
    run = start_run(embedded_env(pgdata), tmp_path / "run.log")
    runs.append(run)
    run.wait_healthy()
    server = postmaster(pgdata)
    backends = children(server.pid)
    kids = run.children()
    assert len(kids) == CHILDREN + 1  # and the embedded server's reaper

    run.process.kill()
    run.process.wait()
    survivors = wait_gone([*kids, server, *backends], seconds=30)
    assert not survivors, f"outlived a SIGKILLed gateway run: {survivors}\n{run.output()}"
    assert not (pgdata / "postmaster.pid").exists()


def test_embedded_postgres_run_did_not_start_is_left_running(
    runs: list[Run], pgdata: Path, tmp_path: Path
) -> None:
    # Started the way a Python shell or another tool would, and left running by it.
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None)",
            str(pgdata),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    server = postmaster(pgdata)

    run = start_run(embedded_env(pgdata), tmp_path / "run.log")
    runs.append(run)
    run.wait_healthy()
    assert "this run did not start it and leaves it running" in run.output()
    assert len(run.children()) == CHILDREN  # no reaper

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0, run.output()
    assert server.alive()
