"""Fixtures for the emulator's own tests: one emulator and one sample bot process per module.

A module shares them (starting a bot process costs about a second on two cores); the
function-scoped ``emulator`` fixture resets Discord's rules after each test and prints the bot's
output when a test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig

SAMPLE_BOT = "tests.emulator_tests.sample_bot"
EXPECTED_LOG_LINES = (
    "We are being rate limited",
    "PyNaCl is not installed",
    "davey is not installed",
)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_emulator() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as emulator:
        yield emulator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sample_bot(module_emulator: DiscordEmulator) -> AsyncIterator[BotProcess]:
    bot = BotProcess(
        module_emulator, module=SAMPLE_BOT, env={"SAMPLE_GUILD_ID": str(module_emulator.guild.id)}
    )
    await bot.start()
    try:
        await module_emulator.wait_ready(30)
        await module_emulator.wait_commands(30, guild=module_emulator.guild)
        await module_emulator.wait_commands(30)
        yield bot
    finally:
        await bot.stop()
    # discord.py logs a traceback or a warning when a payload is not what Discord sends
    # (or a heartbeat ACK comes too early): the emulator got it wrong.
    unexpected = [
        line
        for line in bot.lines
        if ("Traceback" in line or " WARNING " in line or " ERROR " in line)
        and not any(ok in line for ok in EXPECTED_LOG_LINES)
    ]
    assert unexpected == [], bot.tail(120)


@pytest.fixture
def emulator(
    module_emulator: DiscordEmulator, request: pytest.FixtureRequest
) -> Iterator[DiscordEmulator]:
    """The module's emulator; Discord's rules are reset after the test."""
    yield module_emulator
    module_emulator.rules.reset()
    assert module_emulator.internal_errors == []
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "sample_bot" in request.fixturenames:
        bot: BotProcess = request.getfixturevalue("sample_bot")
        print(f"--- sample bot output ---\n{bot.tail(80)}")
