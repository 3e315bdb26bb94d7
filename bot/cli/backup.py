"""``python -m bot backup PATH`` and ``restore PATH``: the database, copied and put back.

Why this module exists: everything a server paid for (jobs, the ledger, budgets) lives in one
SQLite file that the bot writes while it runs, in WAL mode, so copying the file alone can give a
torn copy. SQLite's online backup API copies a live database consistently, page by page, and
needs nothing the container lacks (no ``sqlite3`` tool; Python 3.11 has no ``python -m
sqlite3``). Restoring is the dangerous direction: it replaces what a running bot is using.

What it must never do: restore while a bot holds the database (its process lock says so); leave
a half-written file where a backup or the database should be (both are written beside the
target and renamed into place); or restore a file that is not a wanbot database, or one made
by a newer wanbot than this one (its schema would be misread).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.config import ConfigError, load_settings
from bot.jobs.migrations import latest_version
from bot.jobs.storage import DatabaseInUse, ProcessLock

PAGES_PER_STEP = 1024  # the bot's writes interleave between steps of this many pages


class BackupFailed(Exception):
    """One line for the operator: what went wrong and what to do."""


def add_backup_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="copy the database consistently, even while the bot runs",
        description=(
            "Copy the database named by WANBOT_DATABASE to PATH with SQLite's online backup "
            "API. Safe while the bot runs. PATH may be a folder (a dated file is made in it)."
        ),
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    backup.set_defaults(handler=run_backup)
    restore = subparsers.add_parser(
        "restore",
        help="put a backup back (the bot must be stopped)",
        description=(
            "Replace the database named by WANBOT_DATABASE with the backup at PATH. Refuses "
            "while a bot runs on it; the database it replaces is kept beside it."
        ),
    )
    restore.add_argument("path", type=Path, metavar="PATH")
    restore.set_defaults(handler=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    return _report(lambda: backup(_database(), args.path))


def run_restore(args: argparse.Namespace) -> int:
    return _report(lambda: restore(args.path, _database()))


def backup(database: Path, target: Path) -> str:
    """Copy ``database`` to ``target`` (a file, or a folder to make a dated file in)."""
    if not database.is_file():
        raise BackupFailed(f"there is no database at {database} (WANBOT_DATABASE)")
    if target.is_dir():
        target = target / f"wanbot-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3"
    if target.exists():
        raise BackupFailed(f"{target} already exists; choose another path")
    if not target.parent.is_dir():
        raise BackupFailed(f"the folder {target.parent} does not exist")
    with _connect(database, read_only=True) as source:
        _check_database(source, database)
        _copy(source, target)
    with _connect(target, read_only=True) as copy:
        jobs = copy.execute("SELECT count(*) FROM jobs").fetchone()[0]
    return f"backed up {database} to {target} ({jobs} jobs, {_size(target)})"


def restore(backup_file: Path, database: Path) -> str:
    """Replace ``database`` with ``backup_file``, keeping the replaced one beside it."""
    if not backup_file.is_file():
        raise BackupFailed(f"there is no backup at {backup_file}")
    with _connect(backup_file, read_only=True) as source:
        _check_database(source, backup_file)
    lock = ProcessLock(database)
    try:
        lock.acquire()  # the bot cannot start while this runs, nor run while it starts
    except DatabaseInUse as exc:
        raise BackupFailed(f"not restoring: {exc}") from None
    try:
        kept = ""
        if database.is_file():
            aside = database.with_name(
                f"{database.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            with _connect(database, read_only=False) as current:
                _copy(current, aside)  # folds in the WAL: a complete copy
            kept = f"; the replaced database is kept as {aside}"
        with _connect(backup_file, read_only=True) as source:
            _copy(source, database, replace=True)
    finally:
        lock.release()
    return f"restored {database} from {backup_file}{kept}"


def _database() -> Path:
    settings = load_settings()
    if settings.database_url is not None:
        raise BackupFailed(
            "the database is PostgreSQL (WANBOT_DATABASE_URL): back it up with pg_dump, and "
            "restore it with pg_restore (README, Operations)"
        )
    return settings.database_path


def _report(action: Callable[[], str]) -> int:
    try:
        print(action())
    except (BackupFailed, ConfigError, sqlite3.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool) -> Iterator[sqlite3.Connection]:
    uri = f"{path.resolve().as_uri()}?mode={'ro' if read_only else 'rw'}"
    connection = sqlite3.connect(uri, uri=True, timeout=10.0)
    try:
        yield connection
    finally:
        connection.close()


def _check_database(connection: sqlite3.Connection, path: Path) -> None:
    """A wanbot database this code understands, and not damaged."""
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupFailed(f"{path} is not a SQLite database ({exc})") from None
    if not {"jobs", "ledger"} <= tables:
        raise BackupFailed(f"{path} is not a wanbot database (no jobs or ledger table)")
    if version > latest_version():
        raise BackupFailed(
            f"{path} was made by a newer wanbot (schema {version}, this one knows "
            f"{latest_version()}); upgrade first"
        )
    if verdict != "ok":
        raise BackupFailed(f"{path} is damaged (quick_check: {verdict})")


def _copy(source: sqlite3.Connection, target: Path, *, replace: bool = False) -> None:
    """Back ``source`` up into a new file beside ``target``, then rename it into place.

    With ``replace`` the target's old ``-wal``/``-shm`` files go too: they belong to the file
    being replaced, and SQLite would otherwise replay them over the restored one.
    """
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    destination = sqlite3.connect(partial)
    try:
        source.backup(destination, pages=PAGES_PER_STEP)
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        destination.close()
    if replace:
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(partial, target)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"
