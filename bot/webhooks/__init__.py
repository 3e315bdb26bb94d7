"""Receiving providers' pushed events (webhooks) on the bot's HTTP server.

Why this package exists: a provider that pushes "your task finished" saves the polls and the
seconds between a result being ready and the bot seeing it. :func:`webhook_routes` gives the
HTTP server (:mod:`bot.http_server`) the routes the settings turn on: today MuleRouter's
(:mod:`bot.webhooks.mulerouter`), with signatures checked in one place
(:mod:`bot.webhooks.signatures`).

What it must never do: import discord.py, or change a job any way but through the engine.
"""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from bot.webhooks.mulerouter import PATH as MULEROUTER_PATH
from bot.webhooks.mulerouter import MuleRouterWebhooks, SeenEvents, TaskEvents
from bot.webhooks.signatures import SignatureVerifier

__all__ = ["MULEROUTER_PATH", "webhook_routes"]


def webhook_routes(settings: Settings, engine: TaskEvents, seen: SeenEvents) -> list[web.RouteDef]:
    """The webhook routes the settings turn on (none without a secret). Raises
    :class:`~bot.config.ConfigError` naming the setting when a secret is unusable."""
    secret = settings.mulerouter_webhook_secret
    if secret is None or not secret.get_secret_value().strip():
        return []
    verifier = SignatureVerifier(secret, setting="MULEROUTER_WEBHOOK_SECRET")
    return MuleRouterWebhooks(verifier, engine, seen).routes()
