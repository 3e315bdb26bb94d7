"""Errors whose message is meant for the member who ran the command.

Raising :class:`UserFacingError` anywhere in a command or button ends with that message as an
ephemeral reply (see :mod:`bot.discord_ui.tree`); every other exception becomes a generic
apology plus a log line, so no traceback ever reaches a member.
"""

from __future__ import annotations

from discord import app_commands


class UserFacingError(app_commands.AppCommandError):
    """A refusal or failure the member can act on. ``str()`` is shown to them as is.

    ``reason``, when given, is counted in ``wanbot_refusals_total`` (a short fixed word, never
    member text). Refusals the engine counts itself (budgets and limits) leave it out.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
