"""End-to-end fixtures: the real bot process between the Discord emulator and the provider
simulator, both running in the test's event loop on 127.0.0.1.

One ``World`` per test module (starting the bot costs a couple of seconds): ``world.discord``
is the emulator, ``world.sim`` the simulator, ``world.bot`` the bot process, and
``world.db_path`` its SQLite file. ``world.restart()`` SIGKILLs the bot and starts it again on
the same database, as a crash would. The function-scoped ``world`` fixture resets Discord's
rules and the simulator's faults after each test and prints the bot's output when one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from bot.jobs.money import from_micros
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.store import job_from_row
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY, SimulatorServer
from bot.simulator.config import SimulatorConfig
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, User
from tests.waiting import wait_until

SIM_SPEED = 200.0
# Log lines the bot may print in these tests without anything being wrong.
EXPECTED_LOG_LINES = (
    "We are being rate limited",
    "PyNaCl is not installed",
    "davey is not installed",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every e2e test runs on its module's event loop, where the emulator and the simulator
    serve: a test on a loop of its own would leave them unanswered while it waits."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.asyncio(loop_scope="module"), append=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@dataclass
class World:
    discord: DiscordEmulator
    sim: SimulatorServer
    bot: BotProcess
    folder: Path
    env: dict[str, str]

    @property
    def db_path(self) -> Path:
        return self.folder / "wanbot.sqlite3"

    async def restart(self, *, kill: bool = True) -> None:
        """Stop the bot (SIGKILL by default, as a crash) and start it on the same database."""
        if kill:
            await self.bot.kill()
        else:
            await self.bot.stop()
        identifies = self.discord.gateway.identifies
        self.bot = BotProcess(self.discord, env=self.env)
        await self.bot.start()
        await self.discord.wait_ready(30, identifies=identifies + 1)

    async def job(self, job_id: int) -> Job:
        """The job as the bot stored it, read through a read-only connection (never taking
        the write lock the bot's own transactions need)."""
        return await asyncio.to_thread(self._read_job, job_id)

    def _read_job(self, job_id: int) -> Job:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        ) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert row is not None, f"no job #{job_id}"
        return job_from_row(row)

    def _read_only(self) -> contextlib.closing[sqlite3.Connection]:
        # Read-only, beside the running bot: its store holds the one-process lock.
        return contextlib.closing(
            sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        )

    async def ledger(self, job_id: int) -> list[tuple[str, Decimal]]:
        """The job's ledger entries as (entry, amount), oldest first."""

        def read() -> list[tuple[str, Decimal]]:
            with self._read_only() as db:
                rows = db.execute(
                    "SELECT entry, amount_micros FROM ledger WHERE job_id = ? ORDER BY id",
                    (job_id,),
                ).fetchall()
            return [(entry, from_micros(micros)) for entry, micros in rows]

        return await asyncio.to_thread(read)

    async def ledger_total(self) -> Decimal:
        def read() -> Decimal:
            with self._read_only() as db:
                (micros,) = db.execute(
                    "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger"
                ).fetchone()
            return from_micros(micros)

        return await asyncio.to_thread(read)

    async def wait_job(self, job_id: int, *states: JobState, within: float = 30) -> Job:
        return await wait_until(
            lambda: self.job(job_id),
            done=lambda job: job.state in states,
            timeout=within,
            interval=0.1,
            message=lambda: (
                f"job #{job_id} to be one of {[s.value for s in states]}"
                f" (the bot's output ends:\n{self.bot.tail(60)}\n)"
            ),
        )

    def creates(self) -> list[Any]:
        """Create requests the providers received (not control or media requests)."""
        return [r for r in self.sim.state.requests if r.method == "POST" and r.provider is not None]


def bot_env(folder: Path, sim: SimulatorServer, **extra: str) -> dict[str, str]:
    return {
        "WANBOT_DATABASE": str(folder / "wanbot.sqlite3"),
        "WANBOT_MEDIA_DIR": str(folder / "media"),
        "MULEROUTER_BASE_URL": sim.base_url,
        "MULEROUTER_API_KEY": DEFAULT_MULEROUTER_KEY,
        "VTRIX_BASE_URL": sim.base_url,
        "VTRIX_API_KEY": DEFAULT_VTRIX_KEY,
        # Fast polling against a fast simulator: every look at most half a second apart.
        "WANBOT_POLL_MIN_SECONDS": "0.2",
        "WANBOT_POLL_MAX_SECONDS": "0.5",
        "WANBOT_LOG_LEVEL": "INFO",
        # The emulator enforces no per-channel write limit unless a test turns it on; at
        # Discord's 5 per 5 s, tests sharing #general would wait on each other's edits.
        # (bench/discord_writes.py and the chaos harness keep Discord's 5.)
        "WANBOT_CHANNEL_WRITES_PER_5S": "50",
        # Test bots share this machine: none listens on the HTTP port (8080 by default) unless
        # a module asks for one (tests/e2e/test_webhooks.py picks a free port).
        "WANBOT_HTTP_PORT": "off",
        **extra,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    """One emulator, simulator and bot per module. A module may set ``BOT_ENV`` (extra
    settings) and ``SIM_CONFIG`` (simulator overrides) at its top level."""
    folder = tmp_path_factory.mktemp("world")
    extra_env: dict[str, str] = getattr(request.module, "BOT_ENV", {})
    sim_config: dict[str, Any] = {
        "speed": SIM_SPEED,
        "seed": 7,
        **getattr(request.module, "SIM_CONFIG", {}),
    }
    async with (
        DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as discord,
        SimulatorServer(SimulatorConfig(**sim_config)) as sim,
    ):
        env = bot_env(folder, sim, **extra_env)
        bot = BotProcess(discord, env=env)
        await bot.start()
        world = World(discord, sim, bot, folder, env)
        try:
            await discord.wait_ready(30, commands=True)
            yield world
        finally:
            await world.bot.stop()
        unexpected = [
            line
            for line in world.bot.lines
            if ("Traceback" in line or " ERROR " in line)
            and not any(ok in line for ok in EXPECTED_LOG_LINES)
        ]
        assert unexpected == [], world.bot.tail(120)


@pytest.fixture
def world(module_world: World, request: pytest.FixtureRequest) -> Iterator[World]:
    yield module_world
    module_world.discord.rules.reset()
    module_world.sim.state.faults.clear()
    assert module_world.discord.internal_errors == []
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- bot output ---\n{module_world.bot.tail(80)}")


async def reply_of(itx: Any, within: float = 10) -> StoredMessage:
    """The bot's answer to an interaction once it is no longer "thinking"."""
    await itx.response(timeout=within)
    return await itx.wait_original(lambda m: not m.loading, timeout=within)


async def accept_cost(world: World, user: str | User, itx: Any, within: float = 15) -> None:
    """If the member's options cost more than the server's defaults, the bot asks first: click
    "Generate for $…" as ``user``. Returns at once when the order went ahead without asking."""
    original = await itx.wait_original(
        lambda m: not m.loading and not m.content.startswith("Starting"), timeout=within
    )
    go = [b for b in original.buttons if str(b.get("label", "")).startswith("Generate for ")]
    if go:
        click = await world.discord.click(user, original, go[0]["custom_id"])
        await click.response(timeout=within)
        await itx.wait_original(
            lambda m: not m.buttons and not m.content.startswith("Starting"), timeout=within
        )


async def ephemeral_text(
    world: World,
    user: str | User,
    channel: str | Channel,
    command: str,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """Run a command and return its private answer (failing if it answered publicly)."""
    itx = await world.discord.slash(user, channel, command, options or {}, **kwargs)
    reply = await reply_of(itx)
    assert reply.ephemeral, f"/{command} answered publicly: {reply.content!r}"
    return reply.content


def png_bytes(
    width: int, height: int, *, colour: tuple[int, ...] = (40, 120, 200), mode: str = "RGB"
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def png() -> Callable[..., bytes]:
    """``png(width, height, colour=..., mode=...)``: real PNG bytes made with Pillow."""
    return png_bytes
