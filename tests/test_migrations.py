"""Migrations: a fresh database migrates to exactly procrastinate's schema + db/schema.sql, the
vendored procrastinate schema is the installed one, re-runs are no-ops, a failing file leaves
nothing behind, and a missing database is created."""

from __future__ import annotations

import importlib.metadata
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from procrastinate.schema import SchemaManager

from gateway import db, migrations
from tests import conftest, services, tools

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_SQL = ROOT / "db" / "schema.sql"
PROCRASTINATE_MIGRATION = ROOT / "db" / "migrations" / "0001_procrastinate_3_10_0.sql"

# tests/security/test_secrets_at_rest.py dumps the database with the same binary.
_pg_dump_binary = tools.pg_dump


def schema_dump(url: str) -> str:
    out = subprocess.run(
        [
            tools.pg_dump(),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=schema_migrations",
            "--dbname",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Recent pg_dump releases wrap the dump in \restrict <random key> ... \unrestrict <key>;
    # the key differs per run and says nothing about the schema.
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


@pytest.fixture
def throwaway() -> Iterator[Callable[[], str]]:
    """Makes URLs of databases that do not exist yet on the test server; drops them after."""
    names: list[str] = []

    def make() -> str:
        name = services.fresh_database_name().replace("gateway_test_", "gateway_mig_")
        names.append(name)
        return services.with_database(conftest.DATABASE_URL, name)

    yield make
    for name in names:
        services.drop_database(conftest.DATABASE_URL, name)


@pytest.fixture
async def fresh(throwaway: Callable[[], str]) -> AsyncIterator[str]:
    url = throwaway()
    assert await db.ensure_database(url)
    yield url


async def _tables(url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in await cur.fetchall()}


async def _recorded(url: str) -> list[tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def test_fresh_database_migrates_to_procrastinate_schema_plus_schema_sql(
    fresh: str, throwaway: Callable[[], str]
) -> None:
    applied = await migrations.apply(fresh)
    assert applied == [m.name for m in migrations.discover()]

    expected = throwaway()
    await db.ensure_database(expected)
    async with await psycopg.AsyncConnection.connect(expected, autocommit=True) as conn:
        await conn.execute(SchemaManager.get_schema().encode())
        await conn.execute(SCHEMA_SQL.read_bytes())

    migrated_dump = schema_dump(fresh)
    assert "CREATE TABLE public.orders" in migrated_dump
    assert "CREATE TABLE public.procrastinate_jobs" in migrated_dump
    assert "schema_migrations" not in migrated_dump
    assert migrated_dump == schema_dump(expected), (
        "db/schema.sql is out of step with db/migrations: update it with each migration"
    )


def test_vendored_procrastinate_migration_is_the_installed_schema() -> None:
    assert importlib.metadata.version("procrastinate") == "3.10.0"
    text = PROCRASTINATE_MIGRATION.read_text(encoding="utf-8")
    installed = SchemaManager.get_schema()
    assert text.endswith(installed)
    # Only our header comment may precede the verbatim copy.
    header = text[: len(text) - len(installed)]
    assert all(line.startswith("--") for line in header.splitlines())


async def test_rerunning_migrations_is_a_no_op(fresh: str) -> None:
    await migrations.apply(fresh)
    before_dump, before_rows = schema_dump(fresh), await _recorded(fresh)
    assert [v for v, _ in before_rows] == [m.version for m in migrations.discover()]

    assert await migrations.apply(fresh) == []
    assert schema_dump(fresh) == before_dump
    assert await _recorded(fresh) == before_rows


async def test_a_failing_migration_leaves_the_database_as_it_was(
    fresh: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int PRIMARY KEY);\n")
    # The first statement succeeds, the second fails: the file must not half-apply.
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE half (id int);\nINSERT INTO good VALUES (1);\nSELECT 1 / 0;\n"
    )
    with pytest.raises(psycopg.errors.DivisionByZero):
        await migrations.apply(fresh, tmp_path)

    assert await _tables(fresh) == {"good", "schema_migrations"}
    assert await _recorded(fresh) == [("0001", "0001_good")]
    async with await psycopg.AsyncConnection.connect(fresh) as conn:
        cur = await conn.execute("SELECT count(*) FROM good")
        assert await cur.fetchone() == (0,)

    # The advisory lock was released and the fixed file now applies.
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int);\n")
    assert await migrations.apply(fresh, tmp_path) == ["0002_bad"]
    assert await _tables(fresh) == {"good", "half", "schema_migrations"}


async def test_ensure_database_creates_a_missing_database(
    throwaway: Callable[[], str],
) -> None:
    url = throwaway()
    admin, name = db.split_database(url)
    assert name.startswith("gateway_mig_")

    async def exists() -> bool:
        async with await psycopg.AsyncConnection.connect(admin) as conn:
            cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return await cur.fetchone() is not None

    assert not await exists()
    assert await db.ensure_database(url) is True
    assert await exists()
    assert await db.ensure_database(url) is False  # already there: nothing to do
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT current_database()")
        assert await cur.fetchone() == (name,)
