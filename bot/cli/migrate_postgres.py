"""``python -m bot migrate-to-postgres --sqlite PATH --url URL``: move a bot's data to PostgreSQL.

Why this module exists: a server that outgrows one process moves its jobs, ledger, budgets
and settings from the SQLite file into a PostgreSQL database that several bot processes share,
and must be able to prove nothing was lost or changed on the way: what a server paid for is in
the ledger. The copy is taken from a consistent snapshot (SQLite's online backup, so the bot
may be running while it is made: a rehearsal), brought to the latest schema, and written into
an *empty* PostgreSQL database in one transaction, row for row with the same ids. Then the
counts of every table and the ledger's totals (overall, per entry kind and per server) are
compared on both sides; any difference rolls the whole copy back.

What it must never do: write into a PostgreSQL database that already holds wanbot data, leave
a half-copied database behind, copy this process's leases (jobs arrive unowned: the first bot
process to start claims them), or print the URL's password.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bot.cli.backup import BackupFailed, backup
from bot.jobs.money import from_micros
from bot.jobs.storage import open_store

# Copied in this order (references first). Tables that only matter to running processes
# (instances: leases) are not copied.
TABLES: tuple[str, ...] = (
    "jobs",
    "job_inputs",
    "outbox",
    "guild_settings",
    "user_settings",
    "meta",
    "ledger",
    "webhook_events",
)
# Columns that belong to the process that owned a row, not to the data.
NOT_COPIED = {"jobs": {"lease_owner"}, "outbox": {"claimed_by"}}
# Tables whose ids come from a sequence, set past the copied ids afterwards.
IDENTITY_TABLES = ("jobs", "outbox", "ledger")


class MigrationRefused(Exception):
    """One line for the operator: why nothing was copied, and what to do."""


@dataclass(frozen=True)
class Totals:
    """What is compared on both sides after the copy."""

    rows: dict[str, int]
    ledger_micros: int
    ledger_by_entry: dict[str, int]
    ledger_by_guild: dict[int | None, int]


def add_migrate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = subparsers.add_parser(
        "migrate-to-postgres",
        help="copy the SQLite database into an empty PostgreSQL database, and verify it",
        description=(
            "Copy every job, ledger entry, budget and setting from the SQLite database at "
            "--sqlite into the empty PostgreSQL database at --url (creating its schema), in one "
            "transaction, then verify the row counts and ledger totals on both sides. Safe "
            "while the bot runs (a consistent snapshot is copied); stop the bot before the "
            "copy you switch over with, or jobs made after it stay behind."
        ),
    )
    migrate.add_argument("--sqlite", type=Path, required=True, metavar="PATH")
    migrate.add_argument("--url", required=True, metavar="URL", help="postgresql://...")
    migrate.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(migrate(args.sqlite, args.url)))
    except (MigrationRefused, BackupFailed, sqlite3.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def describe(url: str) -> str:
    """Where a URL points, without its password: ``host:port/database``."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or '/'}"


async def migrate(sqlite_path: Path, url: str) -> str:
    """Copy and verify; the summary line, or :class:`MigrationRefused`."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise MigrationRefused("--url must be a postgresql:// URL")
    where = describe(url)
    with tempfile.TemporaryDirectory(prefix="wanbot-migrate-") as folder:
        snapshot = Path(folder) / "snapshot.sqlite3"
        backup(sqlite_path, snapshot)  # consistent even while the bot writes
        store = await open_store(snapshot)  # brings the copy to the latest schema
        await store.close()
        try:
            await _prepare(url)
            connection = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise MigrationRefused(
                f"cannot use the PostgreSQL database at {where}: {type(exc).__name__}"
            ) from None
        try:
            with sqlite3.connect(snapshot) as source:
                source.row_factory = sqlite3.Row
                expected = _sqlite_totals(source)
                async with connection.transaction():
                    await _refuse_unless_empty(connection, where)
                    for table in TABLES:
                        await _copy_table(source, connection, table)
                    for table in IDENTITY_TABLES:
                        await connection.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        )
                    copied = await _postgres_totals(connection)
                    if copied != expected:
                        raise MigrationRefused(
                            f"the copy at {where} differs from the SQLite data "
                            f"({_difference(expected, copied)}); nothing was kept"
                        )
        finally:
            await connection.close()
    return (
        f"copied {sqlite_path} to {where}: "
        + ", ".join(f"{count} {table}" for table, count in expected.rows.items() if count)
        + f"; ledger total {from_micros(expected.ledger_micros)} USD on both sides"
    )


async def _prepare(url: str) -> None:
    """Create (migrate) the PostgreSQL schema through the store itself."""
    store = await open_store(Path("unused"), url)
    await store.close()


async def _refuse_unless_empty(connection: asyncpg.Connection, where: str) -> None:
    for table in ("jobs", "ledger", "guild_settings", "user_settings"):
        count = await connection.fetchval(f"SELECT count(*) FROM {table}")
        if count:
            raise MigrationRefused(
                f"the PostgreSQL database at {where} already holds wanbot data ({count} rows "
                f"in {table}); migrate into an empty database"
            )


async def _copy_table(
    source: sqlite3.Connection, connection: asyncpg.Connection, table: str
) -> None:
    types = {
        row["column_name"]: row["data_type"]
        for row in await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = $1 AND table_schema = current_schema()",
            table,
        )
    }
    present = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    skipped = NOT_COPIED.get(table, set())
    columns = [name for name in present if name in types and name not in skipped]
    missing = [name for name in present if name not in types and name not in skipped]
    if missing:
        raise MigrationRefused(
            f"the PostgreSQL schema has no column {table}.{missing[0]}; is this wanbot older "
            "than the SQLite database?"
        )
    rows = [
        tuple(_value(row[name], types[name]) for name in columns)
        for row in source.execute(f"SELECT {', '.join(columns)} FROM {table}")
    ]
    if rows:
        await connection.copy_records_to_table(table, records=rows, columns=columns)


def _value(value: Any, pg_type: str) -> Any:
    """A SQLite value as the PostgreSQL column takes it (asyncpg checks types strictly)."""
    if value is None:
        return None
    if pg_type == "boolean":
        return bool(value)
    if pg_type in ("double precision", "real"):
        return float(value)
    if pg_type in ("bigint", "integer", "smallint"):
        return int(value)
    if pg_type == "numeric":
        return Decimal(str(value))
    return value if isinstance(value, str) else str(value)


def _sqlite_totals(source: sqlite3.Connection) -> Totals:
    def count(table: str) -> int:
        return int(source.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    return Totals(
        rows={table: count(table) for table in TABLES},
        ledger_micros=int(
            source.execute("SELECT COALESCE(SUM(amount_micros), 0) FROM ledger").fetchone()[0]
        ),
        ledger_by_entry=_pairs(
            source.execute("SELECT entry, SUM(amount_micros) FROM ledger GROUP BY entry")
        ),
        ledger_by_guild=_pairs(
            source.execute("SELECT guild_id, SUM(amount_micros) FROM ledger GROUP BY guild_id")
        ),
    )


async def _postgres_totals(connection: asyncpg.Connection) -> Totals:
    rows = {}
    for table in TABLES:
        rows[table] = int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
    return Totals(
        rows=rows,
        ledger_micros=int(
            await connection.fetchval("SELECT COALESCE(SUM(amount_micros), 0) FROM ledger")
        ),
        ledger_by_entry=_pairs(
            await connection.fetch("SELECT entry, SUM(amount_micros) FROM ledger GROUP BY entry")
        ),
        ledger_by_guild=_pairs(
            await connection.fetch(
                "SELECT guild_id, SUM(amount_micros) FROM ledger GROUP BY guild_id"
            )
        ),
    )


def _pairs(rows: Any) -> dict[Any, int]:
    return {row[0]: int(row[1]) for row in rows}


def _difference(expected: Totals, copied: Totals) -> str:
    for table in TABLES:
        if expected.rows[table] != copied.rows[table]:
            return f"{table}: {expected.rows[table]} rows, {copied.rows[table]} copied"
    if expected.ledger_micros != copied.ledger_micros:
        return (
            f"ledger total {from_micros(expected.ledger_micros)} USD, "
            f"{from_micros(copied.ledger_micros)} copied"
        )
    return "ledger totals per entry or per server"
