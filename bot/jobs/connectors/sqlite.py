"""The SQLite connector: one aiosqlite connection to one file, owned by one process.

Why this module exists: SQLite needs what PostgreSQL does not, an exclusive process lock on the
file, pragmas (WAL, FULL sync, foreign keys, a busy timeout) and an in-process lock so two
coroutines never interleave ``BEGIN … COMMIT`` on the one connection; and it has no LISTEN, so
notifications go to the callbacks registered in this process for the same file (one process per
file: there is nobody else to tell).

What it must never do: let a transaction start without ``BEGIN IMMEDIATE`` (a deferred one that
reads then writes fails at once with "database is locked" when another connection wrote in
between), or let a listener's exception reach the notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs import migrations
from bot.jobs.connectors import Dialect, Row, Tx, check_channel

__all__ = ["BUSY_TIMEOUT_MS", "DatabaseInUse", "ProcessLock", "SQLiteConnector"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class DatabaseInUse(RuntimeError):
    """Another process has this database open (see :class:`ProcessLock`)."""


class ProcessLock:
    """An exclusive ``flock`` on ``<database>.lock``, held while the store is open.

    The operating system drops it when the process dies, however it dies (SIGKILL included),
    so a crash never leaves a stale lock behind. The file records who holds it, for the
    message a second opener gets. Local file systems only (as SQLite's own locking).
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUse(
                f"{self.path.with_suffix('')} is in use by another wanbot process ({holder}); "
                "stop that one first, or give this one its own WANBOT_DATABASE"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class _SQLiteTx:
    """Statements on the one connection (inside or outside ``BEGIN … COMMIT``)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: object) -> int:
        async with self._db.execute(sql, args) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._db.executemany(sql, rows)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        # fetchall, always: a RETURNING statement only finishes its writes when stepped to
        # the end, and COMMIT refuses while a statement is still in progress.
        return list(await self._db.execute_fetchall(sql, args))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: object) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


# Listeners of each database file in this process: (connector, channel) -> callbacks.
_LISTENERS: dict[Path, dict[int, dict[str, list[Callable[[str], None]]]]] = {}


class SQLiteConnector(_SQLiteTx):
    """One SQLite file, opened with :meth:`open`."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: Path, lock: ProcessLock) -> None:
        super().__init__(db)
        self.path = path
        self._key = path.resolve()
        self._process_lock = lock
        # One aiosqlite connection serialises statements but not transactions: two coroutines
        # must not interleave BEGIN…COMMIT on it. Every transaction holds this lock.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLiteConnector({str(self.path)!r})"

    # Statements outside a transaction wait for the one in progress: on the same connection
    # they would otherwise read its uncommitted writes (a job already "failed" whose notice
    # row is not written yet), which PostgreSQL's read committed never shows.

    async def execute(self, sql: str, *args: object) -> int:
        async with self._lock:
            return await super().execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        async with self._lock:
            await super().executemany(sql, rows)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self._lock:
            return await super().fetch(sql, *args)

    @classmethod
    async def open(cls, path: Path, *, process_lock: bool = True) -> SQLiteConnector:
        """Open (creating and migrating) the file; :class:`DatabaseInUse` while another
        process holds it. ``process_lock=False`` skips the lock (tests of several
        connections only)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = ProcessLock(path)
        if process_lock:
            lock.acquire()
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            lock.release()
            raise
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed "submitting" or outbox claim must survive a power loss too, or
            # a create could be resent or a result posted twice after the machine comes back.
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            await migrations.migrate(db)
        except BaseException:
            await db.close()  # its worker thread would otherwise keep the process alive
            lock.release()
            raise
        return cls(db, path, lock)

    async def close(self) -> None:
        listeners = _LISTENERS.get(self._key)
        if listeners is not None:
            listeners.pop(id(self), None)
            if not listeners:
                del _LISTENERS[self._key]
        try:
            await self._db.close()
        finally:
            self._process_lock.release()

    async def schema_version(self) -> int:
        return await migrations.schema_version(self._db)

    @asynccontextmanager
    async def transaction(self, lock_keys: Sequence[str] = ()) -> AsyncIterator[Tx]:
        """``BEGIN IMMEDIATE`` takes the file's write lock up front: every writer is
        serialised, so ``lock_keys`` need nothing more here."""
        async with self._lock:
            await self._begin()
            try:
                yield _SQLiteTx(self._db)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, undone if the caller is cancelled while it waits: aiosqlite
        runs the statement to its end in its thread whatever happens to the awaiting task,
        and a transaction left open would make every later ``BEGIN`` fail."""
        begin = asyncio.ensure_future(self._db.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await begin
                await self._db.execute("ROLLBACK")
            raise

    async def iterate(self, sql: str, *args: object) -> AsyncIterator[Row]:
        async with self._db.execute(sql, args) as cursor:
            async for row in cursor:
                yield row

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        check_channel(channel)
        mine = _LISTENERS.setdefault(self._key, {}).setdefault(id(self), {})
        mine.setdefault(channel, []).append(callback)

    async def notify(self, channel: str, payload: str = "") -> None:
        """Deliver to this process's listeners of the same file, soon (as PostgreSQL would:
        never inside the notifier's call)."""
        check_channel(channel)
        loop = asyncio.get_running_loop()
        for channels in list(_LISTENERS.get(self._key, {}).values()):
            for callback in list(channels.get(channel, ())):
                loop.call_soon(_deliver, callback, channel, payload)


def _deliver(callback: Callable[[str], None], channel: str, payload: str) -> None:
    try:
        callback(payload)
    except Exception:
        log.exception("a listener of %s failed", channel)
