"""The numbered schema migrations of the store, and the runners that apply them.

Why this module exists: a bot that is upgraded in place must bring its database along, once,
in order, and never half-way. Each ``NNN_name.sql`` file beside this module is one step of the
SQLite schema; ``postgres/NNN_name.sql`` is the same step for PostgreSQL, with the same number,
tables, columns and indexes (so rows copy 1:1 between the two). The SQLite runner applies the
missing steps in one ``BEGIN IMMEDIATE`` transaction and records the version in ``PRAGMA
user_version``; the PostgreSQL runner applies them in one transaction under an advisory lock
(two processes starting together migrate once) and records each step in ``schema_version``. A
crash mid-upgrade leaves the old schema intact on both.

What it must never do: edit a migration that has shipped (write a new one), run a statement
that did not come from these files, or open a database with no migrations found: an install
without its ``.sql`` package data would otherwise leave an empty schema and fail later, far from
the cause, with "no such table". That is :class:`MigrationsMissing`, naming the folder searched.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal, Protocol

import aiosqlite

Dialect = Literal["sqlite", "postgres"]
# Where each dialect's files are, under this package.
_SUBFOLDER: dict[Dialect, str | None] = {"sqlite": None, "postgres": "postgres"}


class MigrationsMissing(RuntimeError):
    """No ``NNN_name.sql`` file was found in the migrations package: a broken install."""


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


def _package_folder() -> Traversable:
    """Where the migrations are read from: this package, wherever it is installed."""
    return resources.files(__name__)


def load_migrations(dialect: Dialect = "sqlite") -> list[Migration]:
    """Every migration of ``dialect`` shipped with the package, in order.

    A SQLite migration is split into its statements; a PostgreSQL one is a single script
    (run as one simple query, so ``$$``-quoted function bodies stay whole). Raises
    :class:`MigrationsMissing` when there is none.
    """
    folder = _package_folder()
    sub = _SUBFOLDER[dialect]
    if sub is not None:
        folder = folder / sub
    entries = (
        sorted(
            (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
            key=lambda entry: entry.name,
        )
        if folder.is_dir()
        else []
    )
    if not entries:
        where = "bot/jobs/migrations/" + ("" if sub is None else f"{sub}/") + "*.sql"
        raise MigrationsMissing(
            f"no schema migrations (NNN_name.sql) found in {folder} (package {__name__}); "
            "this install of wanbot lacks its package data, reinstall it from a wheel or "
            f"source tree that includes {where}"
        )
    return [
        Migration(
            number=int(entry.name.split("_", 1)[0]),
            name=entry.name,
            statements=(
                tuple(split_sql(entry.read_text(encoding="utf-8")))
                if dialect == "sqlite"
                else (entry.read_text(encoding="utf-8"),)
            ),
        )
        for entry in entries
    ]


def latest_version(dialect: Dialect = "sqlite") -> int:
    return max(migration.number for migration in load_migrations(dialect))


async def schema_version(db: aiosqlite.Connection) -> int:
    row = await (await db.execute("PRAGMA user_version")).fetchone()
    assert row is not None
    return int(row[0])


async def migrate(db: aiosqlite.Connection) -> None:
    """Apply the missing migrations in one ``BEGIN IMMEDIATE`` transaction.

    Called once when the store opens, before anything else uses the connection. When the
    schema is up to date no write lock is taken (a second reader opening the file stays cheap).
    Raises :class:`MigrationsMissing`, before touching the schema, when none is found.
    """
    migrations = load_migrations()
    current = await schema_version(db)
    if all(migration.number <= current for migration in migrations):
        return
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await schema_version(db)
        for migration in migrations:
            if migration.number <= version:
                continue
            for statement in migration.statements:
                await db.execute(statement)
            # PRAGMA takes no parameters; ``number`` is an int parsed from our own file name.
            await db.execute(f"PRAGMA user_version = {migration.number:d}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


class PostgresConnection(Protocol):
    """What the PostgreSQL runner needs of a connection (an ``asyncpg.Connection``)."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


# Created by the runner, not by a migration: it records them. One row per step applied.
_PG_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)
# One migrator per schema at a time (tests give each test a schema of its own).
_PG_MIGRATE_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('wanbot.migrate.' || current_schema(), 0))"
)


async def postgres_schema_version(conn: PostgresConnection) -> int:
    """The last step applied to the schema first on the connection's ``search_path``."""
    if not await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def migrate_postgres(conn: PostgresConnection) -> None:
    """Apply the missing PostgreSQL migrations in one transaction.

    Under ``pg_advisory_xact_lock`` (keyed on the schema): a second process starting at the
    same moment waits, then finds the schema up to date and applies nothing. When it is up to
    date already no lock is taken. Raises :class:`MigrationsMissing` before touching the
    schema when no file is found.
    """
    migrations = load_migrations("postgres")
    latest = max(migration.number for migration in migrations)
    if await postgres_schema_version(conn) >= latest:
        return
    async with conn.transaction():
        await conn.execute(_PG_MIGRATE_LOCK)
        await conn.execute(_PG_VERSION_TABLE)
        version = await postgres_schema_version(conn)
        for migration in migrations:
            if migration.number <= version:
                continue
            for script in migration.statements:
                await conn.execute(script)  # no arguments: the simple protocol, many statements
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at)"
                " VALUES ($1, $2, extract(epoch FROM clock_timestamp()))",
                migration.number,
                migration.name,
            )


def split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (``BEGIN … END;``) whole."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("--")):
            continue
        buffer.append(line)
        candidate = "\n".join(buffer)
        if stripped.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buffer = []
    if "\n".join(buffer).strip():
        raise ValueError("migration ends with an incomplete statement")
    return statements
