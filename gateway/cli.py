"""The `gateway` command: run, serve, migrate, api, worker, merchants create."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from gateway import db, errors, keys, merchants, metrics, migrations, settings

ROOT = Path(__file__).resolve().parent.parent
API_FACTORY = "gateway.api.app:create_app"
DASHBOARD_FACTORY = "gateway.dashboard.app:create_app"
CHECKOUT_FACTORY = "gateway.checkout.app:create_app"
log = logging.getLogger("gateway.cli")


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


async def prepare(
    url: str, config: settings.Settings | None = None, *, demo: bool = True
) -> list[str]:
    """Create the database if missing, migrate, and seal what older releases stored in plain
    text: what every start does. `config` gives the server key (default: the environment's).
    Only the demo seeds the contract's test merchant: its credentials are published, so in
    production a database starts with no merchant at all and `gateway merchants create` is the
    way in."""
    config = config or settings.get()
    await db.ensure_database(url)
    applied = await migrations.apply(url)
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        # Right after migrating, before anything serves, in production too: from here on every
        # reader finds only sealed secrets (migration 0007 explains why SQL cannot do this).
        await merchants.seal_legacy_secrets(conn, config)
        if demo:
            await merchants.seed(conn, config)
    return applied


# Names the key, never the secret: even a published secret stays out of logs, so a log grep for
# secrets keeps meaning something.
DEMO_WARNING = (
    "gateway: WARNING demo mode: the published test credentials are live (API key"
    f" {merchants.TEST_API_KEY} and its secret, dashboard login {merchants.TEST_MERCHANT_EMAIL}"
    " with any password, /api/v1/test/*); set GATEWAY_ENV=production to turn the demo off"
)


def _warn_demo(config: settings.Settings) -> None:
    """One line at start, so nobody runs the demo on a reachable host without being told that
    anyone who has read the README owns its test merchant."""
    if not config.production:
        print(DEMO_WARNING, file=sys.stderr)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedServer:
    """An embedded PostgreSQL this run started, and the reaper process that stops it.

    The reaper waits on two pipes. Its stdin's only writer is `gateway run`, so EOF there means
    run has stopped or died (the kernel closes the pipe even after a SIGKILL; nothing has to be
    set up in time, unlike a signal). The write end of the second, `users`, is also inherited by
    the apps and the worker, so its EOF means the last of them has exited: the server is stopped
    only after its clients, which after a SIGKILL of run are stopping at that same moment.
    """

    def __init__(self, pgdata: Path, system_user: str | None) -> None:
        users_read, self.users = os.pipe()
        try:
            self.reaper = subprocess.Popen(  # noqa: S603 - our interpreter, module and paths
                [
                    sys.executable,
                    "-c",
                    "import sys; from gateway import cli; cli.reap_postgres(*sys.argv[1:])",
                    str(pgdata),
                    system_user or "",
                    str(users_read),
                ],
                stdin=subprocess.PIPE,
                pass_fds=(users_read,),
                # Out of the terminal's process group: Ctrl-C is for the supervisor, which has
                # the server stopped only after the apps and the worker have stopped.
                process_group=0,
            )
        finally:
            os.close(users_read)

    def stop(self) -> None:
        """Have the server stopped and wait for it; call once the apps have exited."""
        os.close(self.users)
        if self.reaper.stdin is not None:  # always, with stdin=PIPE
            self.reaper.stdin.close()
        try:
            # pg_ctl -w gives up after 60 s; a fast shutdown normally takes well under a second.
            self.reaper.wait(timeout=70)
        except subprocess.TimeoutExpired:
            print("gateway: the embedded PostgreSQL is still stopping", file=sys.stderr)


# How long the reaper of a SIGKILLed run lets the apps finish before stopping their database
# anyway: a little over the grace _supervise gives them.
CLIENTS_GRACE_SECONDS = 20


def reap_postgres(pgdata: str, system_user: str, users_fd: str) -> None:
    """The reaper's body (see EmbeddedServer): stop the server in pgdata once `gateway run` and
    then its apps are gone, or at once on SIGTERM."""
    import pgserver

    def stop_now(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop_now)
    try:
        sys.stdin.buffer.read()
        # Nobody writes to `users`: it turns readable only at EOF.
        select.select([int(users_fd)], [], [], CLIENTS_GRACE_SECONDS)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Fast: any session still open is rolled back rather than waited for.
        command = ["-w", "-m", "fast", "stop"]
        try:
            pgserver.pg_ctl(command, pgdata=Path(pgdata), user=system_user or None)
        except subprocess.CalledProcessError:
            print(
                f"gateway: could not stop the embedded PostgreSQL in {pgdata}"
                " (already stopped?); its log is in that directory",
                file=sys.stderr,
            )


def _embedded_postgres(pgdata: Path) -> tuple[str, EmbeddedServer | None]:
    """Start pgserver's PostgreSQL with its data in pgdata. Returns its URL and, when this run
    started it, the handle that stops it again.

    A server already running there was started by someone else (another `gateway run`, a
    Python shell): it is used and left running, since whoever started it may still need it.
    """
    try:
        import pgserver
        from pgserver.utils import PostmasterInfo
    except ImportError:
        raise SystemExit(
            "gateway: an embedded PostgreSQL needs pgserver, which is not installed;"
            " set DATABASE_URL or `pip install -e '.[embedded]'`"
        ) from None
    pgdata = pgdata.expanduser().resolve()
    # The same test pgserver makes to decide whether to start one. (Two runs racing to start
    # the same directory cannot both serve anyway: their ports collide.)
    before = PostmasterInfo.read_from_pgdata(pgdata)
    started_here = before is None or not before.is_running()
    # cleanup_mode=None: pgserver's own atexit stop counts handles in a file that a SIGKILLed
    # process never leaves, so it would stop too early or never; the reaper stops it instead.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    uri: str = server.get_uri("gateway")
    if not started_here:
        print(
            f"gateway: using the embedded PostgreSQL already running in {pgdata} ({uri});"
            " this run did not start it and leaves it running",
            file=sys.stderr,
        )
        return uri, None
    # As root, pgserver runs the server as a system user of its own (postgres refuses root);
    # pg_ctl must then run as that user too.
    embedded = EmbeddedServer(pgdata, server.system_user)
    print(
        f"gateway: started an embedded PostgreSQL in {pgdata} ({uri});"
        " it stops when gateway run stops",
        file=sys.stderr,
    )
    return uri, embedded


def _resolve_database_url() -> EmbeddedServer | None:
    """Settle DATABASE_URL for `gateway run`. Returns the embedded server this run started,
    if any."""
    if os.environ.get("DATABASE_URL") or os.environ.get("GATEWAY_DATABASE_URL"):
        return None
    # Naming a data directory asks for the embedded server outright; otherwise it is only the
    # fallback when no local server answers.
    pgdata = os.environ.get("GATEWAY_EMBEDDED_PGDATA")
    if not pgdata and _port_open("127.0.0.1", 5432):
        return None
    uri, embedded = _embedded_postgres(Path(pgdata) if pgdata else ROOT / ".pgdata")
    os.environ["DATABASE_URL"] = uri
    settings.get.cache_clear()
    return embedded


def redact_url(url: str) -> str:
    """`url` without what may hold a password: the userinfo (`redis://:pw@host`) becomes ***
    and the query (`?password=pw`) is dropped. Start-up output ends up in shared logs."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    netloc = f"***@{host}" if at else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _warn_without_redis(config: settings.Settings) -> None:
    parts = urlsplit(config.redis_url)
    if parts.scheme.startswith("redis") and not _port_open(
        parts.hostname or "127.0.0.1", parts.port or 6379
    ):
        print(
            f"gateway: Redis not reachable at {redact_url(config.redis_url)}; running without it"
            " (idempotency falls back to PostgreSQL, rate limits are off)",
            file=sys.stderr,
        )


def uvicorn_command(factory: str, port: int, host: str, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]


def worker_command() -> list[str]:
    """procrastinate's command line on uvloop (gateway/jobs/__main__.py)."""
    return [sys.executable, "-m", "gateway.jobs", "--app=gateway.queue.app", "worker"]


def _web_commands(config: settings.Settings) -> list[list[str]]:
    return [
        uvicorn_command(API_FACTORY, config.api_port, config.host, config.api_processes),
        uvicorn_command(DASHBOARD_FACTORY, config.dashboard_port, config.host),
        uvicorn_command(CHECKOUT_FACTORY, config.checkout_port, config.host),
    ]


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_this_process() -> Callable[[], None] | None:
    """A preexec_fn that makes a child get SIGTERM when this process dies, even by SIGKILL.

    Children have process groups of their own (see _supervise), so nothing else would stop them
    if the supervisor were killed outright: they would keep serving, holding the ports and the
    database, with no parent. Linux only (prctl); elsewhere children behave as before.

    A preexec_fn runs Python between fork and exec, which is safe only in a process without other
    threads: the supervisor has none (asyncio.run joins its executor's threads before returning).
    """
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before fork: the child should do as little as possible between fork and exec.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The supervisor may have died between fork and prctl; then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@contextlib.contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh directory where every child writes its Prometheus samples (gateway/metrics.py),
    so /metrics on any API process reports them all; removed when the children are gone. An
    operator's own PROMETHEUS_MULTIPROC_DIR is used as given."""
    if os.environ.get(metrics.MULTIPROC_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        del os.environ[metrics.MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)


def _supervise(
    commands: list[list[str]], config: settings.Settings, pass_fds: tuple[int, ...] = ()
) -> int:
    """Run the commands as children until Ctrl-C/SIGTERM or until one exits; then stop all.
    The children inherit pass_fds and hold them open until they exit."""
    with _metrics_directory():
        return _run_children(commands, config, pass_fds)


def _run_children(
    commands: list[list[str]], config: settings.Settings, pass_fds: tuple[int, ...]
) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Handlers first: a signal arriving while children start must still stop them.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Each child gets its own process group, so a terminal's Ctrl-C reaches only this process,
    # which then sends exactly one SIGTERM to each. (A second signal makes uvicorn drop
    # in-flight requests instead of finishing them.) Own groups also mean nothing stops the
    # children if this process is SIGKILLed, hence the parent-death signal. The kernel sends it
    # only once this process is gone, and a normal stop waits for every child first, so a child
    # never gets it on top of our SIGTERM. Fixed argv lists of our own interpreter and modules;
    # nothing comes from input.
    preexec = _die_with_this_process()
    children = [
        subprocess.Popen(argv, process_group=0, preexec_fn=preexec, pass_fds=pass_fds)  # noqa: S603
        for argv in commands
    ]
    print(
        f"gateway: API http://localhost:{config.api_port}  dashboard"
        f" http://localhost:{config.dashboard_port}  checkout"
        f" http://localhost:{config.checkout_port}  (Ctrl-C stops everything)",
        file=sys.stderr,
    )
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"gateway: {child.args!r} exited with {child.returncode}", file=sys.stderr)
                stopping = True
                code = 1
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """Migrate + seed, then API, dashboard, checkout and a worker as child processes."""
    embedded = _resolve_database_url()
    try:
        config = settings.main_guard()
        _warn_demo(config)
        _warn_without_redis(config)
        asyncio.run(prepare(config.database_url, demo=not config.production))
        users = (embedded.users,) if embedded else ()
        workers = [worker_command() for _ in range(config.worker_processes)]
        return _supervise([*_web_commands(config), *workers], config, users)
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    """API, dashboard and checkout only: for deployments that migrate and run workers apart
    (compose.yaml's `migrate` and `worker` services)."""
    config = settings.main_guard()
    _warn_demo(config)
    _warn_without_redis(config)
    return _supervise(_web_commands(config), config)


def cmd_migrate(args: argparse.Namespace) -> int:
    config = settings.main_guard()
    _warn_demo(config)
    # The demo's generated key is made here, once, before anything else starts: compose runs
    # migrate first with the data directory on a volume the API and the workers share, so every
    # container uses this one key. (Production takes GATEWAY_SECRET_KEY; nothing is written.)
    try:
        keys.master(config)
    except OSError as error:
        print(
            f"gateway: cannot keep the demo key in {config.data_dir} ({error.strerror});"
            " set GATEWAY_SECRET_KEY or a writable GATEWAY_DATA_DIR",
            file=sys.stderr,
        )
        return 2
    applied = asyncio.run(prepare(config.database_url, demo=not config.production))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    config = settings.main_guard()
    _warn_demo(config)
    asyncio.run(prepare(config.database_url, demo=not config.production))
    port = args.port or config.api_port
    argv = uvicorn_command(API_FACTORY, port, config.host, config.api_processes)
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process


def cmd_worker(args: argparse.Namespace) -> int:
    settings.main_guard()
    os.execv(sys.executable, worker_command())  # noqa: S606 - replaces this process


async def _create_merchant(
    config: settings.Settings, name: str, email: str, password: str | None
) -> None:
    # dict rows: the domain reads columns by name (a tuple row made this crash after the
    # INSERT had committed, leaving a merchant whose credentials were never shown).
    async with await psycopg.AsyncConnection.connect(
        config.database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        merchant = await merchants.create(
            conn, name=name, email=email, password=password, config=config
        )
    # The one time the secrets are shown in clear (stdout, for the operator; never a log line).
    # The dashboard shows them again later, decrypted from the database.
    print(f"merchant_id:    {merchant.id}")
    print(f"api_key:        {merchant.api_key}")
    print(f"api_secret:     {merchant.api_secret}")
    print(f"webhook_secret: {merchant.webhook_secret}")


def cmd_merchants_create(args: argparse.Namespace) -> int:
    config = settings.main_guard()
    asyncio.run(prepare(config.database_url, config, demo=not config.production))
    try:
        asyncio.run(_create_merchant(config, args.name, args.email, args.password))
    except errors.GatewayError as error:
        print(f"gateway: {error.description}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="migrate, seed and start API, dashboard, checkout and a worker")
    sub.add_parser("serve", help="start API, dashboard and checkout only (no migrate, no worker)")
    sub.add_parser("migrate", help="create the database if needed, migrate and (demo only) seed")
    api = sub.add_parser("api", help="migrate and run only the API")
    api.add_argument("--port", type=int)
    sub.add_parser("worker", help="run a procrastinate worker")
    m = sub.add_parser("merchants", help="manage merchants")
    msub = m.add_subparsers(dest="merchants_command", required=True)
    create = msub.add_parser("create", help="create a merchant and print its credentials")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", help="dashboard password (scrypt-hashed)")
    return parser


HANDLERS = {
    "run": cmd_run,
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "api": cmd_api,
    "worker": cmd_worker,
    "merchants": cmd_merchants_create,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Settings first: a bad value anywhere (LOG_LEVEL included) ends in one line, not a traceback.
    _logging(settings.main_guard().log_level)
    return HANDLERS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
