"""The PostgreSQL connector: an asyncpg pool, advisory locks, LISTEN/NOTIFY on its own line.

Why this module exists: several bot processes share one PostgreSQL database; what they need
beyond SQL is here. Statements arrive with ``?`` placeholders and are numbered (``$1 … $n``)
once per statement text. A transaction may name lock keys: each becomes a
``pg_advisory_xact_lock`` taken in sorted order, so two processes reserving money for the same
server are serialised while every other server goes on. Notifications use one dedicated
connection (not one of the pool's), re-established with a back-off when it drops; listeners are
called with ``""`` once after a reconnection, since what was sent meanwhile is lost.

With a ``schema`` (tests give each test its own) every connection's ``search_path`` is that
schema, and lock keys and channels are prefixed with it, so deployments sharing a database
never hear or block each other.

What it must never do: put the URL's password into a ``repr``, a log line or an exception
message (asyncpg's own connection errors may quote the DSN: they are replaced by
:class:`~bot.jobs.connectors.StoreUnavailable`, naming host, port and database), or let a
listener's failure or a lost connection reach the caller of :meth:`listen` or :meth:`notify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.jobs import migrations
from bot.jobs.connectors import Dialect, Row, StoreUnavailable, Tx, check_channel

__all__ = ["PostgresConnector", "SchemaLook", "describe_url", "look_read_only", "numbered"]

log = logging.getLogger(__name__)

_ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
# Distinct statement texts of the store: a few hundred at most, each prepared once per
# connection (asyncpg's statement cache).
_STATEMENT_CACHE = 512
_CLOSE_TIMEOUT = 10.0
# Seconds to reach the server and log in (asyncpg's default, 60 s, outlasts any health check).
_CONNECT_TIMEOUT = 10.0
_RECONNECT_FIRST = 0.1
_RECONNECT_MAX = 5.0


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``?`` placeholders as ``$1 … $n`` (those inside '…' literals are left alone)."""
    out: list[str] = []
    count = 0
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        elif char == "?" and not quoted:
            count += 1
            out.append(f"${count}")
            continue
        out.append(char)
    return "".join(out)


def describe_url(url: str) -> str:
    """``host:port/database`` of a ``postgresql://`` URL: where, never who or the password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        database = unquote(parts.path.lstrip("/")) or parts.username or "postgres"
    except ValueError:
        return "the configured PostgreSQL server"
    return f"{host}:{port}/{database}"


@dataclass(frozen=True, slots=True)
class SchemaLook:
    """What ``doctor`` reports of a PostgreSQL database: its migrations and who is using it."""

    version: int  # the last migration applied (0: an empty database)
    live_instances: int  # bot processes whose lease holds now (0 before migration 005)


async def look_read_only(url: str, now: float) -> SchemaLook:
    """Read the schema version and the live bot processes in a read-only session.

    The session is ``default_transaction_read_only``: nothing this does can write, so it may
    run beside the bot. Raises :class:`StoreUnavailable` (host, port and database; never the
    password) when the server cannot be reached or read.
    """
    conn: Any = None
    try:
        conn = await asyncpg.connect(
            url,
            server_settings={"default_transaction_read_only": "on"},
            timeout=_CONNECT_TIMEOUT,
        )
        version = await migrations.postgres_schema_version(conn)
        live = 0
        if await conn.fetchval("SELECT to_regclass('instances') IS NOT NULL"):
            live = int(
                await conn.fetchval("SELECT COUNT(*) FROM instances WHERE expires_at > $1", now)
            )
    except Exception as error:
        reason = _scrub(f"{type(error).__name__}: {error}", _secrets_of(url), "the URL")
        raise StoreUnavailable(f"cannot read {describe_url(url)}: {reason}") from None
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=_CLOSE_TIMEOUT)
    return SchemaLook(version=version, live_instances=live)


def _secrets_of(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return [secret for secret in (url, password, password and unquote(password)) if secret]


def _scrub(text: str, secrets: Sequence[str], where: str) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, where if secret.startswith("postgres") else "***")
    return text


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag: ``UPDATE 3``, ``INSERT 0 1``, ``DELETE 0``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresTx:
    """Statements on one connection of the pool, inside its transaction."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: object) -> int:
        return _rowcount(await self._conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._conn.executemany(numbered(sql), list(rows))

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = await self._conn.fetch(numbered(sql), *args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._conn.fetchrow(numbered(sql), *args)
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._conn.fetchval(numbered(sql), *args)


class PostgresConnector:
    """One PostgreSQL database (and schema), opened with :meth:`open`."""

    dialect: Dialect = "postgres"

    def __init__(self, pool: Any, url: str, schema: str | None) -> None:
        self._pool = pool
        self._url = url
        self._where = describe_url(url) + (f" (schema {schema})" if schema else "")
        self._schema = schema
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._listen_conn: Any = None
        self._listen_lock = asyncio.Lock()
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresConnector({self._where!r})"

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
    ) -> PostgresConnector:
        """Connect (a pool of ``min_size`` to ``max_size`` connections) and migrate.

        Raises :class:`StoreUnavailable`, naming host, port and database, when the server
        cannot be reached or refuses the login.
        """
        pool = await cls._connect(url, schema, min_size=min_size, max_size=max_size)
        connector = cls(pool, url, schema)
        try:
            async with pool.acquire() as conn:
                await migrations.migrate_postgres(conn)
        except BaseException:
            await connector.close()
            raise
        return connector

    @staticmethod
    async def _connect(url: str, schema: str | None, *, min_size: int, max_size: int) -> Any:
        settings = {"search_path": schema} if schema else None
        pool: Any = None
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                server_settings=settings,
                statement_cache_size=_STATEMENT_CACHE,
                timeout=_CONNECT_TIMEOUT,
            )
            async with pool.acquire():  # min_size=0 connects lazily: prove it connects now
                pass
        except Exception as error:
            if pool is not None:
                pool.terminate()
            reason = _scrub(f"{type(error).__name__}: {error}", _secrets_of(url), "the URL")
            raise StoreUnavailable(
                f"cannot open the PostgreSQL database at {describe_url(url)}: {reason}"
            ) from None
        return pool

    async def close(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=_CLOSE_TIMEOUT)
        try:
            await asyncio.wait_for(self._pool.close(), _CLOSE_TIMEOUT)
        except Exception:  # a timeout too: connections still busy are cut
            self._pool.terminate()

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return await migrations.postgres_schema_version(conn)

    # --- statements ------------------------------------------------------------------------

    async def execute(self, sql: str, *args: object) -> int:
        return _rowcount(await self._pool.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._pool.executemany(numbered(sql), list(rows))

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = await self._pool.fetch(numbered(sql), *args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._pool.fetchrow(numbered(sql), *args)
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._pool.fetchval(numbered(sql), *args)

    @asynccontextmanager
    async def transaction(self, lock_keys: Sequence[str] = ()) -> AsyncIterator[Tx]:
        """READ COMMITTED, with an advisory transaction lock per key (sorted: no deadlock
        between two transactions that take some of the same keys)."""
        async with self._pool.acquire() as conn, conn.transaction():
            for key in sorted(set(lock_keys)):
                await conn.execute(_ADVISORY_LOCK, self._scoped(key))
            yield _PostgresTx(conn)

    async def iterate(self, sql: str, *args: object) -> AsyncIterator[Row]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for row in conn.cursor(numbered(sql), *args, prefetch=500):
                yield row

    def _say(self, error: BaseException) -> str:
        """An error for a log line, with anything of the URL's secrets masked."""
        return _scrub(_name(error), _secrets_of(self._url), self._where)

    def _scoped(self, name: str) -> str:
        return name if self._schema is None else f"{self._schema}.{name}"

    # --- LISTEN / NOTIFY -------------------------------------------------------------------

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        check_channel(channel)
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if not first or self._closed:
            return
        async with self._listen_lock:
            if self._listen_conn is None:
                if not self._reconnecting():
                    await self._connect_listener(retry=True)
                return  # a reconnection under way listens to every channel when it is back
            try:
                await self._listen_conn.add_listener(self._scoped(channel), self._on_notification)
            except Exception as error:
                log.warning("LISTEN %s failed on %s: %s", channel, self._where, self._say(error))
                conn, self._listen_conn = self._listen_conn, None
                with contextlib.suppress(Exception):
                    conn.terminate()
                self._lost()

    async def notify(self, channel: str, payload: str = "") -> None:
        check_channel(channel)
        try:
            await self._pool.execute("SELECT pg_notify($1, $2)", self._scoped(channel), payload)
        except Exception as error:
            log.warning("NOTIFY %s failed on %s: %s", channel, self._where, self._say(error))

    async def _connect_listener(self, *, retry: bool) -> bool:
        """Open the listening connection and LISTEN to every channel. ``False`` (logged) when
        it cannot; with ``retry`` a reconnection is then scheduled."""
        conn: Any = None
        try:
            conn = await asyncpg.connect(
                self._url,
                server_settings={"search_path": self._schema} if self._schema else None,
                timeout=_CONNECT_TIMEOUT,
            )
            for channel in list(self._listeners):
                await conn.add_listener(self._scoped(channel), self._on_notification)
            conn.add_termination_listener(self._on_terminated)
        except Exception as error:
            log.warning("cannot LISTEN on %s: %s", self._where, self._say(error))
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.terminate()
            if retry:
                self._lost()
            return False
        if self._closed:
            conn.terminate()
            return False
        self._listen_conn = conn
        return True

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        logical = channel if self._schema is None else channel.removeprefix(f"{self._schema}.")
        self._call(logical, payload)

    def _call(self, channel: str, payload: str) -> None:
        for callback in list(self._listeners.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("a listener of %s failed", channel)

    def _on_terminated(self, conn: Any) -> None:
        if conn is self._listen_conn and not self._closed:
            self._listen_conn = None
            log.warning("the LISTEN connection to %s was lost; reconnecting", self._where)
            self._lost()

    def _reconnecting(self) -> bool:
        return self._reconnect is not None and not self._reconnect.done()

    def _lost(self) -> None:
        """Schedule a reconnection of the listening connection (one at a time)."""
        if self._closed or self._reconnecting():
            return
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        """Reconnect with a doubling back-off; once back, call every listener with ``""``."""
        delay = _RECONNECT_FIRST
        while not self._closed:
            await asyncio.sleep(delay)
            async with self._listen_lock:
                if self._listen_conn is not None:
                    return
                if await self._connect_listener(retry=False):
                    break
            delay = min(delay * 2, _RECONNECT_MAX)
        else:
            return
        log.info("the LISTEN connection to %s is back", self._where)
        for channel in list(self._listeners):
            self._call(channel, "")  # whatever was sent meanwhile is lost


def _name(error: BaseException) -> str:
    """An error for a log line: its class and message (an ``OSError`` by class and errno
    only: its text may name the address it tried)."""
    if isinstance(error, OSError):
        return f"{type(error).__name__} (errno {error.errno})"
    return f"{type(error).__name__}: {error}"
