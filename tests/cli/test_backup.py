"""``python -m bot backup`` and ``restore``, run as the operator runs them: a real subprocess on a
real database that a store (the running bot, as far as the file is concerned) holds and writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.jobs.migrations import latest_version
from bot.jobs.store import SQLiteStore as Store
from tests.jobs.test_store import NOW, OPEN, new_job

pytestmark = pytest.mark.timeout(60)
ROOT = str(Path(__file__).resolve().parents[2])  # this checkout's bot, whatever is installed


async def wanbot(folder: Path, database: Path, *args: str) -> tuple[int, str, str]:
    """``python -m bot ARGS`` from ``folder`` (no .env there) with WANBOT_DATABASE set."""
    env = {**os.environ, "PYTHONPATH": ROOT, "WANBOT_DATABASE": str(database)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def counts(path: Path) -> tuple[int, int, str]:
    """(jobs, reservations in the ledger, quick_check) of a database file."""
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        jobs = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
        reserves = db.execute("SELECT count(*) FROM ledger WHERE entry = 'reserve'").fetchone()[0]
        check = db.execute("PRAGMA quick_check").fetchone()[0]
    return jobs, reserves, check


async def test_a_backup_taken_while_the_bot_writes_is_whole_and_consistent(tmp_path: Path) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)  # holds the process lock, as the running bot does
    try:
        for _ in range(50):
            await store.create_job(new_job(), OPEN, NOW)
        writing = True

        async def keep_writing() -> int:
            made = 0
            while writing:
                await store.create_job(new_job(), OPEN, NOW)
                made += 1
                await asyncio.sleep(0)
            return made

        writer = asyncio.create_task(keep_writing())
        code, out, err = await wanbot(tmp_path, database, "backup", str(tmp_path / "copy.sqlite3"))
        writing = False
        made = await writer
    finally:
        await store.close()
    assert (code, err) == (0, "")
    assert out.startswith(f"backed up {database} to {tmp_path / 'copy.sqlite3'} (")
    jobs, reserves, check = counts(tmp_path / "copy.sqlite3")
    assert check == "ok"
    assert 50 <= jobs <= 50 + made
    assert reserves == jobs  # each job and its reservation, together or not at all
    assert not (tmp_path / "copy.sqlite3.partial").exists()


async def test_a_backup_into_a_folder_is_dated_and_never_overwrites(tmp_path: Path) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    await store.close()
    folder = tmp_path / "backups"
    folder.mkdir()
    code, out, _ = await wanbot(tmp_path, database, "backup", str(folder))
    assert code == 0
    (made,) = folder.iterdir()
    assert made.name.startswith("wanbot-")
    assert made.suffix == ".sqlite3"
    code, out, err = await wanbot(tmp_path, database, "backup", str(made))
    assert (code, out) == (1, "")
    assert err == f"error: {made} already exists; choose another path\n"


async def test_backup_without_a_database_says_which_setting(tmp_path: Path) -> None:
    code, _, err = await wanbot(tmp_path, tmp_path / "nope.sqlite3", "backup", str(tmp_path))
    assert code == 1
    assert err == f"error: there is no database at {tmp_path / 'nope.sqlite3'} (WANBOT_DATABASE)\n"


async def test_restore_refuses_while_the_bot_runs_and_replaces_once_it_stopped(
    tmp_path: Path,
) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    for _ in range(3):
        await store.create_job(new_job(), OPEN, NOW)
    code, _, _ = await wanbot(tmp_path, database, "backup", str(tmp_path / "three.sqlite3"))
    assert code == 0
    for _ in range(4):
        await store.create_job(new_job(), OPEN, NOW)
    try:
        code, out, err = await wanbot(
            tmp_path, database, "restore", str(tmp_path / "three.sqlite3")
        )
        assert (code, out) == (1, "")
        assert err.startswith("error: not restoring: ")
        assert "in use by another wanbot process" in err
        assert err.count("\n") == 1  # one line, no traceback
    finally:
        await store.close()
    assert counts(database)[0] == 7  # untouched

    code, out, err = await wanbot(tmp_path, database, "restore", str(tmp_path / "three.sqlite3"))
    assert (code, err) == (0, "")
    assert counts(database)[0] == 3
    (aside,) = [p for p in os.scandir(tmp_path) if p.name.startswith("wanbot.sqlite3.before-")]
    assert counts(Path(aside.path))[0] == 7  # what was replaced is kept
    assert aside.path in out
    reopened = await Store.open(database)  # the bot starts on the restored file
    try:
        assert len(await reopened.active_jobs()) == 3
    finally:
        await reopened.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: path.write_bytes(b"not a database at all" * 100), "is not a SQLite database"),
        (
            lambda path: (
                sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
            ),
            "is not a wanbot database",
        ),
    ],
)
async def test_restore_refuses_what_is_not_a_wanbot_backup(
    tmp_path: Path, make: object, says: str
) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    await store.create_job(new_job(), OPEN, NOW)
    await store.close()
    bad = tmp_path / "bad.sqlite3"
    assert callable(make)
    make(bad)
    code, _, err = await wanbot(tmp_path, database, "restore", str(bad))
    assert code == 1
    assert says in err
    assert err.count("\n") == 1
    assert counts(database)[0] == 1


async def test_restore_refuses_a_backup_from_a_newer_wanbot(tmp_path: Path) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await Store.open(database)
    await store.close()
    newer = tmp_path / "newer.sqlite3"
    code, _, _ = await wanbot(tmp_path, database, "backup", str(newer))
    assert code == 0
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {latest_version() + 1:d}")
    code, _, err = await wanbot(tmp_path, database, "restore", str(newer))
    assert code == 1
    assert "was made by a newer wanbot" in err


async def test_version_is_on_the_command_line(tmp_path: Path) -> None:
    code, out, _ = await wanbot(tmp_path, tmp_path / "x.sqlite3", "--version")
    assert code == 0
    assert out.startswith("wanbot ")
    assert out.strip() != "wanbot"
