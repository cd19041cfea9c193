"""The `gateway` command: run, serve, migrate, api, worker, merchants create."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from gateway import db, errors, merchants, migrations, settings

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


async def prepare(url: str, config: settings.Settings | None = None) -> list[str]:
    """Create the database if missing, migrate, seal what older releases stored in plain text,
    seed: what every start does. `config` gives the server key (default: the environment's)."""
    config = config or settings.get()
    await db.ensure_database(url)
    applied = await migrations.apply(url)
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        # Right after migrating, before anything serves: from here on every reader finds only
        # sealed secrets (migration 0007 explains why SQL cannot do this part).
        await merchants.seal_legacy_secrets(conn, config)
        await merchants.seed(conn, config)
    return applied


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _embedded_postgres() -> str:
    """Start pgserver's PostgreSQL with its data in .pgdata/ (git-ignored)."""
    try:
        import pgserver
    except ImportError:
        raise SystemExit(
            "gateway: no PostgreSQL at 127.0.0.1:5432 and pgserver is not installed;"
            " set DATABASE_URL or `pip install -e '.[embedded]'`"
        ) from None
    server = pgserver.get_server(ROOT / ".pgdata", cleanup_mode=None)
    uri: str = server.get_uri("gateway")
    print(f"gateway: no PostgreSQL answered; started an embedded one at {uri}", file=sys.stderr)
    return uri


def _resolve_database_url() -> None:
    if os.environ.get("DATABASE_URL") or os.environ.get("GATEWAY_DATABASE_URL"):
        return
    if _port_open("127.0.0.1", 5432):
        return
    os.environ["DATABASE_URL"] = _embedded_postgres()
    settings.get.cache_clear()


def _warn_without_redis(config: settings.Settings) -> None:
    parts = urlsplit(config.redis_url)
    if parts.scheme.startswith("redis") and not _port_open(
        parts.hostname or "127.0.0.1", parts.port or 6379
    ):
        print(
            f"gateway: Redis not reachable at {config.redis_url}; running without it"
            " (idempotency falls back to PostgreSQL, rate limits are off)",
            file=sys.stderr,
        )


def _uvicorn(factory: str, port: int, host: str) -> list[str]:
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
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "procrastinate", "--app=gateway.queue.app", "worker"]


def _web_commands(config: settings.Settings) -> list[list[str]]:
    return [
        _uvicorn(API_FACTORY, config.api_port, config.host),
        _uvicorn(DASHBOARD_FACTORY, config.dashboard_port, config.host),
        _uvicorn(CHECKOUT_FACTORY, config.checkout_port, config.host),
    ]


def _supervise(commands: list[list[str]], config: settings.Settings) -> int:
    """Run the commands as children until Ctrl-C/SIGTERM or until one exits; then stop all."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Handlers first: a signal arriving while children start must still stop them.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Each child gets its own process group, so a terminal's Ctrl-C reaches only this process,
    # which then sends exactly one SIGTERM to each. (A second signal makes uvicorn drop
    # in-flight requests instead of finishing them.) Fixed argv lists of our own interpreter
    # and modules; nothing comes from input.
    children = [subprocess.Popen(argv, process_group=0) for argv in commands]  # noqa: S603
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
    _resolve_database_url()
    config = settings.main_guard()
    _warn_without_redis(config)
    asyncio.run(prepare(config.database_url))
    return _supervise([*_web_commands(config), worker_command()], config)


def cmd_serve(args: argparse.Namespace) -> int:
    """API, dashboard and checkout only: for deployments that migrate and run workers apart
    (compose.yaml's `migrate` and `worker` services)."""
    config = settings.main_guard()
    _warn_without_redis(config)
    return _supervise(_web_commands(config), config)


def cmd_migrate(args: argparse.Namespace) -> int:
    config = settings.main_guard()
    applied = asyncio.run(prepare(config.database_url))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    config = settings.main_guard()
    asyncio.run(prepare(config.database_url))
    argv = _uvicorn(API_FACTORY, args.port or config.api_port, config.host)
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
    asyncio.run(prepare(config.database_url, config))
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
    sub.add_parser("migrate", help="create the database if needed, migrate and seed")
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
