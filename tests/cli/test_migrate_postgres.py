"""``python -m bot migrate-to-postgres``, run as the operator runs it: a real subprocess copying
a SQLite database that a store still holds (the running bot) into a fresh PostgreSQL database.

Needs ``WANBOT_TEST_POSTGRES_URL``; skipped, saying so, without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.jobs.states import JobState
from bot.jobs.store import PostgresStore
from bot.jobs.store import SQLiteStore as Store
from tests.cli.test_backup import wanbot
from tests.jobs.test_store import NOW, OPEN, new_job
from tests.postgres import NO_POSTGRES, POSTGRES_URL, fresh_database

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES),
]


@pytest_asyncio.fixture
async def empty_database() -> AsyncIterator[str]:
    async with fresh_database("wanbot_migrate") as url:
        yield url


async def test_a_running_bot_s_data_is_copied_verified_and_keeps_working(
    tmp_path: Path, empty_database: str
) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)  # holds the lock, as the running bot does
    try:
        jobs = [await store.create_job(new_job(), OPEN, NOW) for _ in range(12)]
        await store.cancel(jobs[0].id, NOW + 1, by_user_id=jobs[0].user_id)
        total = await store.ledger_total()
        code, out, err = await wanbot(
            tmp_path, database, "migrate-to-postgres", "--sqlite", str(database),
            "--url", empty_database,
        )  # fmt: skip
    finally:
        await store.close()
    assert (code, err) == (0, ""), err
    assert "12 jobs" in out
    assert f"ledger total {total} USD on both sides" in out
    copied = await PostgresStore.open(empty_database)
    try:
        assert await copied.ledger_total() == total
        assert (await copied.get_job(jobs[0].id)).state is JobState.CANCELLED  # type: ignore[union-attr]
        # The copy goes on where the SQLite ids stopped, and nobody owns its jobs yet.
        more = await copied.create_job(new_job(), OPEN, NOW + 2)
        assert more.id == jobs[-1].id + 1
        claimed = await _claim_all(copied)
        assert sorted(claimed) == [job.id for job in jobs[1:]] + [more.id]
        assert await copied.ledger_total() == total + more.estimated_cost
    finally:
        await copied.close()


async def _claim_all(store: PostgresStore) -> list[int]:
    await store.register_instance("test", NOW + 3, 30.0)
    return [job.id for job in await store.claim_jobs("test", NOW + 3)]


async def test_a_database_that_already_holds_data_is_refused_and_left_alone(
    tmp_path: Path, empty_database: str
) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    await store.create_job(new_job(), OPEN, NOW)
    total = await store.ledger_total()
    await store.close()
    first = await wanbot(tmp_path, database, "migrate-to-postgres", "--sqlite", str(database),
                         "--url", empty_database)  # fmt: skip
    assert first[0] == 0, first[2]
    code, _out, err = await wanbot(tmp_path, database, "migrate-to-postgres", "--sqlite",
                                  str(database), "--url", empty_database)  # fmt: skip
    assert code == 1
    assert "already holds wanbot data (1 rows in jobs)" in err
    assert "Traceback" not in err
    copied = await PostgresStore.open(empty_database)
    try:
        assert await copied.ledger_total() == total  # the first copy, not doubled
        assert len(await copied.jobs_for_user(new_job().user_id, new_job().guild_id)) == 1
    finally:
        await copied.close()


async def test_the_password_is_never_printed(tmp_path: Path) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    await store.close()
    url = "postgresql://wanbot:hunter2-secret@127.0.0.1:1/nothing"
    code, out, err = await wanbot(tmp_path, database, "migrate-to-postgres", "--sqlite",
                                  str(database), "--url", url)  # fmt: skip
    assert code == 1
    assert "127.0.0.1:1/nothing" in err
    assert "hunter2" not in out + err
