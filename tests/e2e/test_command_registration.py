"""Where the slash commands are registered: a test server first, then globally.

Runs its own emulator, simulator and two bot processes one after the other on one database,
as an operator does who tries the bot in one server and then removes
``WANBOT_COMMAND_GUILD_ID``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.simulator import SimulatorConfig, SimulatorServer
from tests.e2e.conftest import bot_env
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig

pytestmark = pytest.mark.timeout(90)


async def test_switching_from_a_test_server_to_global_leaves_each_command_once(
    tmp_path: Path,
) -> None:
    async with (
        DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as discord,
        SimulatorServer(SimulatorConfig(speed=50, seed=3)) as sim,
    ):
        guild = discord.guild
        env = bot_env(tmp_path, sim, WANBOT_COMMAND_GUILD_ID=str(guild.id))
        first = BotProcess(discord, env=env)
        await first.start()
        try:
            await discord.wait_ready(30, commands=True)
        finally:
            await first.stop()
        in_server = {c["name"] for c in discord.commands(guild)}
        assert "wan-t2v" in in_server
        assert discord.commands() == []

        del env["WANBOT_COMMAND_GUILD_ID"]
        identifies = discord.gateway.identifies
        second = BotProcess(discord, env=env)
        await second.start()
        try:
            await discord.wait_ready(30, identifies=identifies + 1)
        finally:
            await second.stop()
        assert {c["name"] for c in discord.commands()} == in_server  # now global...
        assert discord.commands(guild) == []  # ...and not twice in the test server
        assert "cleared the slash commands registered earlier" in "\n".join(second.lines)
