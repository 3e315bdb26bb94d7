"""``python -m bot run`` with settings that cannot work: one line naming the setting, exit 1,
and for the file and folder problems, before Discord is contacted at all.

Each case runs the real entry point in a subprocess pointed at the Discord emulator, so a
request that should not have been made is seen there."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs.store import SQLiteStore
from tests.emulator import DiscordEmulator, EmulatorConfig

pytestmark = pytest.mark.timeout(60)
ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(EmulatorConfig()) as running:
        yield running


async def start(folder: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run the bot from ``folder`` until it exits (within the timeout); its stderr lines."""
    settings = {
        "WANBOT_DATABASE": str(folder / "data" / "wanbot.sqlite3"),
        "MULEROUTER_API_KEY": "sim-mulerouter-key",
        "MULEROUTER_BASE_URL": "http://127.0.0.1:9",  # never reached: nothing is generated
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulator.launch",
        cwd=folder,
        env={**os.environ, "PYTHONPATH": ROOT, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=40)
    assert process.returncode is not None
    return process.returncode, err.decode().splitlines()


async def refused_before_discord(folder: Path, emulator: DiscordEmulator, **env: str) -> str:
    code, lines = await start(folder, {**emulator.env(), **env})
    assert code == 1
    assert len(lines) == 1, lines
    assert emulator.requests == []  # not even a log-in
    return lines[0]


async def test_a_missing_price_table_is_one_line_before_log_in(
    tmp_path: Path, emulator: DiscordEmulator
) -> None:
    missing = tmp_path / "prices.toml"
    line = await refused_before_discord(tmp_path, emulator, WANBOT_PRICE_TABLE=str(missing))
    assert line.startswith(f"error: price table {missing} cannot be read")
    assert line.endswith("(WANBOT_PRICE_TABLE)")


async def test_a_database_folder_that_cannot_exist_is_one_line_before_log_in(
    tmp_path: Path, emulator: DiscordEmulator
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    database = tmp_path / "a-file" / "wanbot.sqlite3"
    line = await refused_before_discord(tmp_path, emulator, WANBOT_DATABASE=str(database))
    assert line.startswith(f"error: WANBOT_DATABASE: cannot create the folder {database.parent}")


async def test_a_file_that_is_not_a_database_is_one_line_before_log_in(
    tmp_path: Path, emulator: DiscordEmulator
) -> None:
    database = tmp_path / "notes.txt"
    database.write_bytes(b"these are not the pages you are looking for" * 200)
    line = await refused_before_discord(tmp_path, emulator, WANBOT_DATABASE=str(database))
    assert line.startswith(f"error: WANBOT_DATABASE: {database} is not a usable SQLite database")


async def test_a_database_another_bot_holds_is_one_line_before_log_in(
    tmp_path: Path, emulator: DiscordEmulator
) -> None:
    database = tmp_path / "wanbot.sqlite3"
    store = await SQLiteStore.open(database)
    try:
        line = await refused_before_discord(tmp_path, emulator, WANBOT_DATABASE=str(database))
    finally:
        await store.close()
    assert line.startswith(f"error: {database} is in use by another wanbot process (pid ")


async def test_discord_unreachable_is_one_error_line_without_voice_noise(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, lines = await start(
        tmp_path, {"WANBOT_TEST_DISCORD_URL": closed, "DISCORD_TOKEN": "emulator-bot-token"}
    )
    assert code == 1
    assert not any("Traceback" in line for line in lines), lines
    assert [line for line in lines if " WARNING " in line] == []  # no PyNaCl / davey notes
    (error,) = [line for line in lines if " ERROR " in line]
    assert "Discord is unreachable" in error
    assert "check the network" in error
    assert len(lines) <= 3, lines  # the error, and at most discord.py's "logging in" line
