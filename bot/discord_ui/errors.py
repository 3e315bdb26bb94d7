"""Errors whose message is meant for the member who ran the command.

Raising :class:`UserFacingError` anywhere in a command or button ends with that message as an
ephemeral reply (see :mod:`bot.discord_ui.tree`); every other exception becomes a generic
apology plus a log line, so no traceback ever reaches a member.
"""

from __future__ import annotations

from discord import app_commands


class UserFacingError(app_commands.AppCommandError):
    """A refusal or failure the member can act on. ``str()`` is shown to them as is."""
