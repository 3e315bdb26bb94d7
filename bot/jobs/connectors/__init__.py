"""How the store reaches a database: one small connector protocol, one connector per driver.

Why this package exists: the store's logic and every statement it runs are written once
(:mod:`bot.jobs.store`, procrastinate's "one manager"); what differs between SQLite and
PostgreSQL, opening a database, transactions and their locks, placeholders, LISTEN/NOTIFY, is
here, behind :class:`Connector` and :class:`Tx`, so the manager never touches a driver.

SQL reaches a connector with ``?`` placeholders; the PostgreSQL connector numbers them
(``$1 … $n``) once per statement text. A connector reports the rows a write changed as an
``int`` and hands back rows that are read by column name or position (``row["id"]``,
``row[0]``) whichever driver made them.

What it must never do: build SQL from values, hand its driver's connection or pool to anything
above the store, or put a database password into a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

__all__ = [
    "CHANNEL_JOBS_FREE",
    "Connector",
    "Dialect",
    "Row",
    "StoreUnavailable",
    "Tx",
    "check_channel",
]

Dialect = Literal["sqlite", "postgres"]

# LISTEN/NOTIFY channels are constants of the code, never values (they cannot be parameters).
_CHANNEL = re.compile(r"^[a-z_]+$")
# A process stopped gracefully and released its jobs: whoever is live may claim them now.
CHANNEL_JOBS_FREE = "wanbot_jobs_free"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened. The message names where (host, port,
    database), never the password."""


class Row(Protocol):
    """A result row: ``sqlite3.Row`` and ``asyncpg.Record`` both read by name or position."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Tx(Protocol):
    """Statements run on one connection: inside a transaction, or (on a :class:`Connector`
    itself) each on its own."""

    async def execute(self, sql: str, *args: object) -> int:
        """Run one statement; the number of rows it changed (0 when not a row change)."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...

    async def fetchval(self, sql: str, *args: object) -> Any:
        """The first column of the first row, ``None`` when there is no row."""
        ...


class Connector(Tx, Protocol):
    """One open database. Statements run on the connector directly are plain reads (each its
    own implicit transaction); writes go through :meth:`transaction`."""

    dialect: Dialect

    def transaction(self, lock_keys: Sequence[str] = ()) -> AbstractAsyncContextManager[Tx]:
        """One write transaction, committed when the block ends, rolled back if it raises.

        ``lock_keys`` name what the transaction must hold alone (e.g. a server's budget): on
        PostgreSQL each is an advisory transaction lock, taken in sorted order (so two
        transactions never wait on each other in a cycle) before the block runs; SQLite's
        ``BEGIN IMMEDIATE`` already serialises every writer of the file.
        """
        ...

    def iterate(self, sql: str, *args: object) -> AsyncIterator[Row]:
        """The rows of one read, streamed (for exports that may be large)."""
        ...

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for each notification on ``channel``. Never raises
        for a lost connection (it is logged and re-established)."""
        ...

    async def notify(self, channel: str, payload: str = "") -> None:
        """Notify every listener of ``channel`` (in any process, on PostgreSQL). Logged,
        never raised, when it cannot be sent: a notification is a hint, not a record."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


def check_channel(channel: str) -> str:
    """``channel`` if it is a valid channel name (lower-case letters and ``_``), else raise."""
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"invalid notification channel {channel!r}: use [a-z_]+")
    return channel
