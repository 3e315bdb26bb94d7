"""The local PostgreSQL server for the tests that need one, and a fresh database on it.

``WANBOT_TEST_POSTGRES_URL`` names the server (``.ci/run`` sets it to 127.0.0.1:5432/test);
without it the tests that need it are skipped with :data:`NO_POSTGRES` as the reason.
:func:`fresh_database` creates a database of its own for one test or module (a bot process
uses the default schema, so a schema per test is not enough there) and drops it afterwards,
closing whatever is still connected.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

POSTGRES_URL = os.environ.get("WANBOT_TEST_POSTGRES_URL") or None
NO_POSTGRES = "WANBOT_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against"


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database ``<prefix>_<random>``, dropped on exit."""
    assert POSTGRES_URL is not None, NO_POSTGRES
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
