"""The bot, assembled: wanbot's command tree, buttons and deliverer on the client, and running it.

Why this module exists: the client (:mod:`bot.discord_ui.client`) owns shared resources and
start-up; which tree answers errors, which buttons survive restarts and how results reach a
channel are wanbot's choices, made here in one place. Keeping the composition out of the
client keeps the import graph of ``bot.discord_ui`` free of circles.

What it must never do: hold logic of its own beyond wiring.
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.config import ConfigError, Settings
from bot.discord_ui.buttons import DYNAMIC_ITEMS
from bot.discord_ui.channel_writer import ChannelWriter
from bot.discord_ui.client import WanBot, bot_class
from bot.discord_ui.deliverer import DiscordDeliverer
from bot.discord_ui.tree import WanCommandTree
from bot.http_server import HttpServerError
from bot.jobs.storage import DatabaseInUse

log = logging.getLogger(__name__)


def create_bot(settings: Settings) -> WanBot:
    """The Discord client with every piece of wanbot in place (not yet connected)."""
    # wanbot has no voice: discord.py's start-up warnings about voice libraries are noise.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    return bot_class(settings)(
        settings,
        tree_cls=WanCommandTree,
        dynamic_items=DYNAMIC_ITEMS,
        make_deliverer=lambda bot: DiscordDeliverer(
            bot,
            edit_interval=settings.status_refresh_seconds * 0.8,
            writer=ChannelWriter(writes=settings.channel_writes_per_5s, per=5.0),
        ),
    )


def run_client(settings: Settings) -> int:
    """Run until stopped. Returns the process exit status."""
    bot = create_bot(settings)
    try:
        bot.run(settings.require_discord_token().get_secret_value(), log_handler=None)
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN: check the token in the developer portal")
        return 1
    except (DatabaseInUse, HttpServerError, ConfigError) as exc:
        log.error("%s", exc)
        return 1
    except (aiohttp.ClientConnectionError, OSError) as exc:
        # Before the first log-in succeeded (later outages are discord.py's to ride out).
        log.error("Discord is unreachable (%s): check the network and DNS, then start again", exc)
        return 1
    return 0
