"""``python -m bot doctor`` as an operator runs it: a real process, pointed at the Discord
emulator and the provider simulator on loopback, with good and bad settings."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.discord_ui.client import REQUIRED_PERMISSIONS
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY, SimulatorServer
from tests.emulator import DiscordEmulator, EmulatorConfig
from tests.postgres import NO_POSTGRES, POSTGRES_URL, fresh_database

pytestmark = pytest.mark.timeout(60)
ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(EmulatorConfig()) as running:
        yield running


async def doctor(
    folder: Path, discord: DiscordEmulator, sim: SimulatorServer, **env: str
) -> tuple[int, list[str]]:
    """Run the doctor from ``folder`` (no .env there); return its exit status and lines."""
    settings = {
        "WANBOT_DATABASE": str(folder / "wanbot.sqlite3"),
        "WANBOT_HTTP_PORT": str(free_port()),
        "MULEROUTER_BASE_URL": sim.base_url,
        "MULEROUTER_API_KEY": DEFAULT_MULEROUTER_KEY,
        "VTRIX_BASE_URL": sim.base_url,
        "VTRIX_API_KEY": DEFAULT_VTRIX_KEY,
        **discord.env(),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulator.launch",
        "--",
        "doctor",
        cwd=folder,
        env={**os.environ, "PYTHONPATH": ROOT, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert err.decode() == ""  # one line per check on stdout, nothing else, no traceback
    assert process.returncode is not None
    text = out.decode()
    for secret in (DEFAULT_MULEROUTER_KEY, discord.token, settings["MULEROUTER_API_KEY"]):
        assert not secret or secret not in text
    return process.returncode, text.splitlines()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_name(entry: str) -> str:
    """``ok    mulerouter key: …`` → ``mulerouter key``."""
    return entry.split(":", 1)[0].split(None, 1)[1]


def line(lines: list[str], name: str) -> str:
    (found,) = [entry for entry in lines if check_name(entry) == name]
    return found


async def test_a_good_setup_passes_every_check_and_prints_the_invite(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    code, lines = await doctor(tmp_path, emulator, simulator)
    assert code == 0, lines
    assert all(entry.startswith("ok ") for entry in lines), lines
    assert [check_name(entry) for entry in lines] == [
        "settings",
        "prices",
        "database",
        "media",
        "mulerouter key",
        "vtrix key",
        "http",
        "discord",
        "invite",
    ]
    assert "will be created at the first start" in line(lines, "database")
    assert f"MULEROUTER_API_KEY accepted by {simulator.base_url}" in line(lines, "mulerouter key")
    invite = line(lines, "invite")
    assert f"client_id={emulator.application_id}&" in invite
    assert f"permissions={REQUIRED_PERMISSIONS.value}" in invite
    # Nothing was created upstream: the only provider requests were the two looks.
    assert [r.method for r in simulator.state.requests if r.provider is not None] == ["GET", "GET"]
    assert simulator.state.tasks == {}


async def test_every_failure_is_named_and_all_checks_still_run(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, lines = await doctor(
        tmp_path,
        emulator,
        simulator,
        WANBOT_DATABASE=str(tmp_path / "missing" / "wanbot.sqlite3"),
        MULEROUTER_API_KEY="a-wrong-key",
        VTRIX_BASE_URL=closed,
        DISCORD_TOKEN="a-reset-token",
        WANBOT_PRICE_TABLE=str(tmp_path / "prices.toml"),
    )
    assert code == 1
    assert line(lines, "database").startswith("FAIL")
    assert f"the folder {tmp_path / 'missing'} does not exist (WANBOT_DATABASE)" in line(
        lines, "database"
    )
    assert "MULEROUTER_API_KEY was refused" in line(lines, "mulerouter key")
    assert "(401)" in line(lines, "mulerouter key")
    assert "VTRIX_BASE_URL" in line(lines, "vtrix key")
    assert "is unreachable" in line(lines, "vtrix key")
    assert "DISCORD_TOKEN was refused" in line(lines, "discord")
    assert "(WANBOT_PRICE_TABLE)" in line(lines, "prices")
    assert "invite" not in [check_name(entry) for entry in lines]
    assert "a-wrong-key" not in "\n".join(lines)
    assert "a-reset-token" not in "\n".join(lines)


async def test_a_missing_key_only_switches_its_models_off_while_another_is_usable(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    # Only a Vtrix key, and Vtrix serving wan2.2-i2v-flash: the bot starts (issue #13).
    code, lines = await doctor(
        tmp_path, emulator, simulator, MULEROUTER_API_KEY="", WAN_I2V_FLASH_PROVIDER="vtrix"
    )
    assert code == 0, lines
    assert line(lines, "mulerouter key") == (
        "ok    mulerouter key: MULEROUTER_API_KEY is not set, so wan2.2-t2v-plus, wan2.6-i2v, "
        "wan2.5-i2i-preview are off on this bot"
    )
    assert "VTRIX_API_KEY accepted" in line(lines, "vtrix key")


async def test_with_no_model_usable_the_missing_key_fails(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    code, lines = await doctor(tmp_path, emulator, simulator, MULEROUTER_API_KEY="")
    assert code == 1
    assert line(lines, "mulerouter key").startswith(
        "FAIL  mulerouter key: MULEROUTER_API_KEY is not set"
    )


async def test_the_database_is_checked_read_only_beside_a_running_bot(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    from bot.jobs.migrations import latest_version
    from bot.jobs.store import SQLiteStore

    store = await SQLiteStore.open(tmp_path / "wanbot.sqlite3")  # holds the process lock
    try:
        code, lines = await doctor(tmp_path, emulator, simulator)
    finally:
        await store.close()
    assert code == 0, lines
    assert f"schema {latest_version()} (up to date)" in line(lines, "database")


async def test_unreadable_settings_are_one_failed_line(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_POLL_MIN_SECONDS="soon")
    assert code == 1
    (only,) = lines
    assert only.startswith("FAIL  settings: ")
    assert "WANBOT_POLL_MIN_SECONDS" in only


async def test_the_http_server_address_is_checked(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    port = free_port()
    code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_HTTP_PORT=str(port))
    assert code == 0, lines
    assert f"127.0.0.1:{port} is free to listen on" in line(lines, "http")

    code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_HTTP_PORT="off")
    assert code == 0, lines
    assert line(lines, "http").startswith("ok    http: off (WANBOT_HTTP_PORT)")

    # Something else holds the port and does not answer /healthz: the bot could not start.
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_HTTP_PORT=str(taken))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in line(lines, "http")
    assert "WANBOT_HTTP_PORT" in line(lines, "http")


async def test_a_running_bot_on_the_address_is_recognised(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    from aiohttp import web

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_HTTP_PORT=str(port))
    finally:
        await runner.cleanup()
    assert code == 0, lines
    assert f"a bot already answers /healthz on 127.0.0.1:{port}" in line(lines, "http")


async def test_an_unusable_webhook_secret_is_named(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    code, lines = await doctor(tmp_path, emulator, simulator, MULEROUTER_WEBHOOK_SECRET="whsec_@@@")
    assert code == 1
    assert "MULEROUTER_WEBHOOK_SECRET is not a usable webhook secret" in line(
        lines, "webhook secret"
    )
    assert "whsec_@@@" not in "\n".join(lines)


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
async def test_a_postgresql_database_is_read_only_checked_with_its_schema_and_processes(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    from bot.jobs.connectors.postgres import describe_url
    from bot.jobs.migrations import latest_version
    from bot.jobs.store import PostgresStore

    async with fresh_database("wanbot_doctor") as url:
        code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_DATABASE_URL=url)
        assert code == 0, lines
        where = describe_url(url)  # host:port/database, as the operator configured it
        assert line(lines, "database").endswith(
            f"{where}: empty, migrated to {latest_version('postgres')} at the first start"
        )
        assert not (tmp_path / "wanbot.sqlite3").exists()  # the SQLite file is not looked at
        # A running bot: the schema is up to date and its lease is counted; nothing is written.
        store = await PostgresStore.open(url)
        try:
            await store.register_instance("doctor-test", time.time(), 60.0)
            before = await _row_counts(url)
            code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_DATABASE_URL=url)
            assert await _row_counts(url) == before
        finally:
            await store.close()
        assert code == 0, lines
        assert f"schema {latest_version('postgres')} (up to date), 1 bot process running" in line(
            lines, "database"
        )


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
async def test_an_unreachable_postgresql_server_is_named_without_its_password(
    tmp_path: Path, emulator: DiscordEmulator, simulator: SimulatorServer
) -> None:
    url = f"postgresql://wanbot:s3cret-pw@127.0.0.1:{free_port()}/wanbot"
    code, lines = await doctor(tmp_path, emulator, simulator, WANBOT_DATABASE_URL=url)
    assert code == 1
    entry = line(lines, "database")
    assert entry.startswith("FAIL"), entry
    assert f"cannot read {url.split('@', 1)[1]}: " in entry, entry
    assert "WANBOT_DATABASE_URL" in entry
    assert "s3cret-pw" not in "\n".join(lines)
    # Every other check still ran.
    assert "discord" in [check_name(entry) for entry in lines]


async def _row_counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        counts = {}
        for (table,) in tables:
            counts[table] = await conn.fetchval(f'SELECT COUNT(*) FROM "{table}"')
        counts["instances_heartbeat"] = await conn.fetchval(
            "SELECT COALESCE(SUM(expires_at), 0)::bigint FROM instances"
        )
        return counts
    finally:
        await conn.close()
