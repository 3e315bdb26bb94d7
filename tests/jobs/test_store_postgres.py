"""What only the PostgreSQL store does: several processes on one database.

Its migrations (mirroring SQLite's, applied once when processes start together), ``SKIP
LOCKED`` claims across stores (each store a pool of its own, as each process would have), the
LISTEN connection coming back after it drops, and connection errors that never show the
password. Tests that need a server are skipped without ``WANBOT_TEST_POSTGRES_URL``; those
that need none (placeholders, an unreachable server) always run.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.jobs import migrations
from bot.jobs.budget import Limits
from bot.jobs.connectors import StoreUnavailable
from bot.jobs.connectors.postgres import describe_url, numbered
from bot.jobs.records import NewJob
from bot.jobs.storage import open_store
from bot.jobs.store import PostgresStore, SQLiteStore
from tests.jobs.conftest import Backend, connector
from tests.waiting import wait_until

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC).timestamp()
OPEN = Limits(max_concurrent_per_user=None)
LEASE = 30.0
SECRET = "s3cret-Pa55"


def new_job(user_id: int = 1) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=10,
        channel_id=555,
        model_id="wan2.6-i2v",
        provider="mulerouter",
        request={"prompt": "p"},
        price_tier="720P",
        estimated_cost=Decimal("0.50"),
        units=Decimal(5),
        unit="second",
        deadline_seconds=600.0,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Without a server
# ---------------------------------------------------------------------------------------------


def test_placeholders_are_numbered_once_per_statement() -> None:
    sql = "UPDATE t SET a = ?, b = '?' WHERE c = ? AND d IN (?, ?)"
    assert numbered(sql) == "UPDATE t SET a = $1, b = '?' WHERE c = $2 AND d IN ($3, $4)"
    assert numbered(sql) is numbered(sql)  # cached by statement text
    assert numbered("SELECT 1") == "SELECT 1"


def test_the_postgres_migrations_mirror_the_sqlite_ones() -> None:
    sqlite = migrations.load_migrations("sqlite")
    postgres = migrations.load_migrations("postgres")
    assert [m.name for m in postgres] == [m.name for m in sqlite]
    assert migrations.latest_version("postgres") == migrations.latest_version() == 6
    assert all(len(m.statements) == 1 for m in postgres)  # one script: $$ bodies stay whole


def test_a_url_is_described_without_who_or_the_password() -> None:
    url = f"postgresql://wanbot:{SECRET}@db.example:6543/wanbot_prod"
    assert describe_url(url) == "db.example:6543/wanbot_prod"
    assert describe_url("postgresql://localhost") == "localhost:5432/postgres"


async def test_an_unreachable_server_is_one_clear_error_without_the_password(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"postgresql://wanbot:{SECRET}@127.0.0.1:{port}/wanbot"
    with pytest.raises(StoreUnavailable) as refused:
        await open_store(tmp_path / "unused.sqlite3", url)
    message = str(refused.value)
    assert f"127.0.0.1:{port}/wanbot" in message
    assert SECRET not in message
    assert SECRET not in repr(refused.value)
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__  # the driver's error (it may quote the DSN)
    assert not (tmp_path / "unused.sqlite3").exists()  # a URL never falls back to SQLite


async def test_without_a_url_the_store_is_the_sqlite_file(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "wanbot.sqlite3", None)
    try:
        assert isinstance(store, SQLiteStore)
    finally:
        await store.close()


# ---------------------------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------------------------


async def test_schema_version_is_kept_in_its_table(postgres_backend: Backend) -> None:
    store = await postgres_backend.open()
    assert await store.schema_version() == migrations.latest_version("postgres")
    rows = await connector(store).fetch("SELECT version, name FROM schema_version ORDER BY 1")
    assert [(row[0], row[1]) for row in rows] == [
        (m.number, m.name) for m in migrations.load_migrations("postgres")
    ]


async def test_processes_starting_together_migrate_once(postgres_backend: Backend) -> None:
    stores = await asyncio.gather(*(postgres_backend.open() for _ in range(4)))
    assert await connector(stores[0]).fetchval("SELECT COUNT(*) FROM schema_version") == 6
    job = await stores[1].create_job(new_job(), OPEN, NOW)
    assert (await stores[3].get_job(job.id)) == job


async def test_tables_and_columns_match_the_sqlite_schema_one_to_one(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    """Same tables, same columns in the same order: a copy moves rows 1:1."""
    store = await postgres_backend.open()
    sqlite_store = await SQLiteStore.open(tmp_path / "mirror.sqlite3")
    await sqlite_store.close()
    with sqlite3.connect(tmp_path / "mirror.sqlite3") as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        sqlite_columns = {
            table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")] for table in tables
        }
        sqlite_indexes = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    rows = await connector(store).fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
        " ORDER BY table_name, ordinal_position"
    )
    pg_columns: dict[str, list[str]] = {}
    for row in rows:
        pg_columns.setdefault(row[0], []).append(row[1])
    assert pg_columns == sqlite_columns
    pg_indexes = {
        row[0]
        for row in await connector(store).fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
        )
    }
    assert pg_indexes == sqlite_indexes


async def test_money_and_snowflakes_are_bigint_and_times_double(postgres_backend: Backend) -> None:
    store = await postgres_backend.open()
    rows = await connector(store).fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    types = {(row[0], row[1]): row[2] for row in rows}
    for column in ("id", "user_id", "guild_id", "channel_id", "estimated_micros"):
        assert types["jobs", column] == "bigint", column
    assert types["ledger", "amount_micros"] == "bigint"
    assert types["jobs", "created_at"] == "double precision"
    assert types["instances", "expires_at"] == "double precision"
    job = await store.create_job(_snowflake_job(), OPEN, NOW)
    assert job.user_id == 1_234_567_890_123_456_789
    assert job.guild_id == 1_234_567_890_123_456_790


def _snowflake_job() -> NewJob:
    base = new_job()
    return NewJob(
        user_id=1_234_567_890_123_456_789,
        guild_id=1_234_567_890_123_456_790,
        channel_id=base.channel_id,
        model_id=base.model_id,
        provider=base.provider,
        request=base.request,
        price_tier=base.price_tier,
        estimated_cost=base.estimated_cost,
        units=base.units,
        unit=base.unit,
        deadline_seconds=base.deadline_seconds,
    )


async def test_the_ledger_cannot_be_truncated(postgres_backend: Backend) -> None:
    store = await postgres_backend.open()
    await store.create_job(new_job(), OPEN, NOW)
    with pytest.raises(postgres_backend.refused, match="append-only"):
        await connector(store).execute("TRUNCATE ledger CASCADE")
    assert await store.ledger_total() == Decimal("0.50")


# ---------------------------------------------------------------------------------------------
# Several processes: leases and SKIP LOCKED
# ---------------------------------------------------------------------------------------------


async def test_a_live_owner_keeps_its_jobs_until_its_lease_runs_out(
    postgres_backend: Backend,
) -> None:
    first, second = [await postgres_backend.open() for _ in "ab"]
    await first.register_instance("a", NOW, LEASE)
    await second.register_instance("b", NOW, 1000.0)
    jobs = [await first.create_job(new_job(u), OPEN, NOW, owner="a") for u in (1, 2)]
    assert await second.claim_jobs("b", NOW + 10) == []
    assert await first.heartbeat("a", NOW + 20, LEASE) == 2  # renewed until NOW + 50
    assert await second.claim_jobs("b", NOW + 40) == []
    taken = await second.claim_jobs("b", NOW + 51)
    assert [job.id for job in taken] == [job.id for job in jobs]
    assert await first.heartbeat("a", NOW + 52, LEASE) is None


async def test_rows_of_instances_dead_for_a_day_are_dropped(postgres_backend: Backend) -> None:
    store = await postgres_backend.open()
    await store.register_instance("long-gone", NOW - 90_000, LEASE)
    await store.register_instance("recently-gone", NOW - 3_600, LEASE)
    await store.register_instance("a", NOW, LEASE)
    assert await store.heartbeat("a", NOW + 1, LEASE) == 1
    rows = await connector(store).fetch("SELECT id FROM instances ORDER BY id")
    assert [row[0] for row in rows] == ["a", "recently-gone"]  # kept a while, for operators


async def test_two_processes_claiming_at_once_never_share_a_job(
    postgres_backend: Backend,
) -> None:
    first, second = [await postgres_backend.open() for _ in "ab"]
    await first.register_instance("a", NOW, LEASE)
    await second.register_instance("b", NOW, LEASE)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    for _ in range(30):  # new unowned jobs, then racing claims of a few at a time
        await connector(first).execute(
            "INSERT INTO jobs (user_id, guild_id, model_id, provider, request_json, price_tier,"
            " state, created_at, deadline_at, estimated_micros, units, unit)"
            " SELECT g, 10, 'm', 'p', '{}', '720P', 'created', ?, ?, 0, '5', 'second'"
            " FROM generate_series(1, 30) AS g",
            NOW,
            NOW + 600,
        )
        for _ in range(4):
            mine, theirs = await asyncio.gather(
                first.claim_jobs("a", NOW + 1, limit=10), second.claim_jobs("b", NOW + 1, limit=10)
            )
            claimed["a"] += [job.id for job in mine]
            claimed["b"] += [job.id for job in theirs]
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == 900
    owners = {
        row[0]: row[1] for row in await connector(first).fetch("SELECT id, lease_owner FROM jobs")
    }
    assert owners == {job_id: name for name, ids in claimed.items() for job_id in ids}


async def test_a_claim_skips_jobs_another_transaction_holds_instead_of_waiting(
    postgres_backend: Backend,
) -> None:
    first, second = [await postgres_backend.open() for _ in "ab"]
    await second.register_instance("b", NOW, LEASE)
    jobs = [await first.create_job(new_job(user), OPEN, NOW) for user in range(6)]
    held = [job.id for job in jobs[:3]]
    async with connector(first).transaction() as tx:
        await tx.fetch("SELECT id FROM jobs WHERE id IN (?, ?, ?) FOR UPDATE", *held)
        async with asyncio.timeout(5):  # a plain FOR UPDATE would wait for the block to end
            taken = await second.claim_jobs("b", NOW)
    assert [job.id for job in taken] == [job.id for job in jobs[3:]]
    assert [job.id for job in await second.claim_jobs("b", NOW)] == held  # free now


async def test_an_outbox_claim_skips_a_row_another_transaction_holds(
    postgres_backend: Backend,
) -> None:
    first, second = [await postgres_backend.open() for _ in "ab"]
    job = await first.create_job(new_job(), OPEN, NOW)
    await first.claim_submission(job.id, NOW)
    await first.mark_running(job.id, "task", NOW, NOW)
    await first.mark_succeeded(job.id, ["http://r/1.mp4"], None, NOW)
    (item,) = await first.due_outbox(NOW)
    async with connector(first).transaction() as tx:
        await tx.fetch("SELECT id FROM outbox WHERE id = ? FOR UPDATE", item.id)
        async with asyncio.timeout(5):
            assert await second.claim_outbox(item.id, NOW, 300.0, attempts=0, owner="b") is None
    claimed = await second.claim_outbox(item.id, NOW, 300.0, attempts=0, owner="b")
    assert claimed is not None
    assert claimed.attempts == 1


# ---------------------------------------------------------------------------------------------
# LISTEN / NOTIFY
# ---------------------------------------------------------------------------------------------


async def test_the_listen_connection_comes_back_after_it_drops(
    postgres_backend: Backend,
) -> None:
    listening, other = [await postgres_backend.open() for _ in "ab"]
    heard: list[str] = []
    await listening.listen("wanbot_test", heard.append)
    await other.notify("wanbot_test", "before")
    await wait_until(lambda: heard == ["before"], timeout=5, message="the first notification")
    pid = connector(listening)._listen_conn.get_server_pid()
    assert await connector(other).fetchval("SELECT pg_terminate_backend(?)", pid) is True
    # Once back, every listener hears "" (what was sent while it was away is lost)...
    await wait_until(lambda: heard == ["before", ""], timeout=10, message="the reconnection")
    # ...and notifications arrive again.
    await other.notify("wanbot_test", "after")
    await wait_until(
        lambda: heard == ["before", "", "after"], timeout=5, message="a notification after it"
    )


async def test_channels_of_another_schema_are_not_heard(postgres_backend: Backend) -> None:
    """Channels are scoped to the schema: two deployments on one database never cross."""
    store = await postgres_backend.open()
    heard: list[str] = []
    await store.listen("wanbot_test", heard.append)
    await connector(store).fetchval("SELECT pg_notify('wanbot_test', 'unscoped')")
    await store.notify("wanbot_test", "scoped")
    await wait_until(lambda: heard == ["scoped"], timeout=5, message="the scoped notification")
    await asyncio.sleep(0.05)
    assert heard == ["scoped"]


# ---------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------


async def test_open_store_with_a_url_opens_postgres(postgres_backend: Backend) -> None:
    assert postgres_backend.url is not None
    separator = "&" if "?" in postgres_backend.url else "?"
    url = f"{postgres_backend.url}{separator}search_path={postgres_backend.schema}"
    store = await open_store(Path("/nonexistent/never/used.sqlite3"), url)
    try:
        assert isinstance(store, PostgresStore)
        assert await store.schema_version() == migrations.latest_version("postgres")
        assert "search_path" not in repr(store)
    finally:
        await store.close()


async def test_a_missing_database_is_named_and_the_password_is_not(
    postgres_backend: Backend,
) -> None:
    assert postgres_backend.url is not None
    parts = urlsplit(postgres_backend.url)
    where = f"{parts.username or 'postgres'}:{SECRET}@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit((parts.scheme, where, "/wanbot_no_such_database", "", ""))
    with pytest.raises(StoreUnavailable) as refused:
        await PostgresStore.open(url)
    message = str(refused.value)
    assert "wanbot_no_such_database" in message
    assert SECRET not in message
    store = await postgres_backend.open()
    assert SECRET not in repr(store)
