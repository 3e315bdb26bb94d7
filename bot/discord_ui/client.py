"""The ``commands.Bot`` subclass: start-up, extension loading, shutdown.

Why this module exists: following RoboDanny's shape, the bot owns the shared resources (settings,
one HTTP session) and loads one extension per model from ``cogs/`` in ``setup_hook``; cogs stay
thin and reach the core through the bot.
"""

from __future__ import annotations

import logging
import pkgutil

import aiohttp
import discord
from discord.ext import commands

import cogs
from bot.config import Settings

log = logging.getLogger(__name__)


def extension_names() -> list[str]:
    """Every module in ``cogs/``, as extension names (``cogs.wan_t2v``…)."""
    return [f"cogs.{module.name}" for module in pkgutil.iter_modules(cogs.__path__)
            if not module.name.startswith("_")]


class WanBot(commands.Bot):
    """The Discord client: owns settings and the shared HTTP session; loads the cogs."""

    def __init__(self, settings: Settings) -> None:
        intents = discord.Intents.default()
        intents.message_content = False
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         allowed_mentions=discord.AllowedMentions(everyone=False, roles=False))
        self.settings = settings
        self.http_session: aiohttp.ClientSession | None = None

    async def setup_hook(self) -> None:
        self.http_session = aiohttp.ClientSession()
        for name in extension_names():
            await self.load_extension(name)
            log.info("loaded %s", name)

    async def close(self) -> None:
        await super().close()
        if self.http_session is not None:
            await self.http_session.close()

    async def on_ready(self) -> None:
        log.info("connected as %s to %d servers", self.user, len(self.guilds))


def run_client(settings: Settings) -> int:
    """Run until stopped. Returns the process exit status."""
    bot = WanBot(settings)
    try:
        bot.run(settings.require_discord_token().get_secret_value(), log_handler=None)
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN: check the token in the developer portal")
        return 1
    return 0
