"""Store fixtures on both backends: SQLite (a file in ``tmp_path``) and PostgreSQL.

``backend`` is parametrised: each test that asks for it runs once on SQLite and once on
PostgreSQL. The PostgreSQL half needs ``WANBOT_TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``) and is skipped, saying so, without it. Each
PostgreSQL test gets a schema of its own (``t_<random>``, dropped afterwards), so tests never
see each other's rows.

``await backend.open()`` opens a store (the first one on SQLite takes the process lock, later
ones are further connections to the same file, as further processes would be on PostgreSQL);
every store opened is closed after the test. ``postgres_backend`` is the PostgreSQL one alone,
for what only PostgreSQL does (several processes).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.jobs.connectors import Connector
from bot.jobs.store import PostgresStore, SQLiteStore, SQLStore

POSTGRES_URL_ENV = "WANBOT_TEST_POSTGRES_URL"
NO_POSTGRES = f"{POSTGRES_URL_ENV} is not set: the PostgreSQL half of the store tests is skipped"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on ``postgres_backend`` are ``postgres`` tests too (``-m "not postgres"``)."""
    for item in items:
        if "postgres_backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@dataclass
class Backend:
    """Where a test's stores live, and how to open more of them."""

    name: str  # "sqlite" | "postgres"
    path: Path  # the SQLite file (unused on PostgreSQL)
    url: str | None = None
    schema: str | None = None
    opened: list[SQLStore] = field(default_factory=list)

    @property
    def refused(self) -> tuple[type[BaseException], ...]:
        """What the database raises when a constraint or trigger refuses a statement."""
        if self.name == "sqlite":
            return (sqlite3.IntegrityError,)
        return (asyncpg.PostgresError,)

    async def open(self, **options: Any) -> SQLStore:
        """Another store on this test's database (closed after the test)."""
        store: SQLStore
        if self.name == "sqlite":
            first = not any(isinstance(s, SQLiteStore) for s in self.opened)
            store = await SQLiteStore.open(self.path, process_lock=first, **options)
        else:
            assert self.url is not None
            options.setdefault("max_size", 5)
            store = await PostgresStore.open(self.url, schema=self.schema, **options)
        self.opened.append(store)
        return store

    async def close(self, store: SQLStore) -> None:
        """Close one store early (a process that stops)."""
        self.opened.remove(store)
        await store.close()

    async def connect(self) -> Any:
        """A plain driver connection to the test's schema (PostgreSQL only)."""
        assert self.url is not None
        return await asyncpg.connect(self.url, server_settings={"search_path": str(self.schema)})


def connector(store: SQLStore) -> Connector:
    """The store's connector, for tests that look at rows directly."""
    return store._connector


def _fast(url: str) -> str:
    """The URL with ``synchronous_commit=off`` (a session setting asyncpg passes on): a test's
    commits need not wait for the disk, which halves the PostgreSQL half's time."""
    return f"{url}{'&' if '?' in url else '?'}synchronous_commit=off"


@asynccontextmanager
async def make_backend(name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    if name == "sqlite":
        backend = Backend("sqlite", tmp_path / "wanbot.sqlite3")
        try:
            yield backend
        finally:
            for store in reversed(backend.opened):
                await store.close()
        return
    url = postgres_url()
    if url is None:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        backend = Backend("postgres", tmp_path / "unused.sqlite3", url=_fast(url), schema=schema)
        try:
            yield backend
        finally:
            for store in reversed(backend.opened):
                await store.close()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each test that uses it runs on SQLite and on PostgreSQL."""
    async with make_backend(request.param, tmp_path) as made:
        yield made


@pytest.fixture
async def postgres_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """PostgreSQL only (skipped without ``WANBOT_TEST_POSTGRES_URL``)."""
    async with make_backend("postgres", tmp_path) as made:
        yield made
