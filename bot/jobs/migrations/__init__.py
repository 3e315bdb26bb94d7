"""The numbered schema migrations of the SQLite store, and the runner that applies them.

Why this module exists: a bot that is upgraded in place must bring its database along, once,
in order, and never half-way. Each ``NNN_name.sql`` file beside this module is one step; the
runner applies the missing steps in one transaction and records the version in ``PRAGMA
user_version``, so a crash mid-upgrade leaves the old schema intact.

What it must never do: edit a migration that has shipped (write a new one), run a statement
that did not come from these files, or open a database with no migrations found: an install
without its ``.sql`` package data would otherwise leave an empty schema and fail later, far from
the cause, with "no such table". That is :class:`MigrationsMissing`, naming the folder searched.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import aiosqlite


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


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, in order.

    Raises :class:`MigrationsMissing` when there is none.
    """
    folder = _package_folder()
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    if not entries:
        raise MigrationsMissing(
            f"no schema migrations (NNN_name.sql) found in {folder} (package {__name__}); "
            "this install of wanbot lacks its package data, reinstall it from a wheel or "
            "source tree that includes bot/jobs/migrations/*.sql"
        )
    return [
        Migration(
            number=int(entry.name.split("_", 1)[0]),
            name=entry.name,
            statements=tuple(split_sql(entry.read_text(encoding="utf-8"))),
        )
        for entry in entries
    ]


def latest_version() -> int:
    return max(migration.number for migration in load_migrations())


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
