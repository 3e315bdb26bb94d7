"""The command tree: one place where every app-command error becomes a clear, private answer.

Why this module exists: as in Red-DiscordBot, errors are handled centrally rather than per
command: a member always gets an ephemeral message that says what to change, the log gets the
details, and no traceback or secret reaches the channel.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.translator import use_member_locale
from bot.i18n import N_, _, english, message_of

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

GENERIC_FAILURE = N_(
    "Something went wrong on my side and nothing was charged. The server staff "
    "can find the details in the bot's log."
)


class WanCommandTree(app_commands.CommandTree["WanBot"]):
    async def interaction_check(self, interaction: discord.Interaction[WanBot], /) -> bool:
        """Every command and autocomplete speaks the member's language (bot.i18n): this runs
        in the interaction's own task, before the callback."""
        use_member_locale(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction[WanBot], error: app_commands.AppCommandError
    ) -> None:
        await answer_error(interaction, error)


# Where Discord's interface names a permission differently from its API flag.
_PERMISSION_NAMES = {"manage_guild": N_("Manage Server"), "view_channel": N_("View Channel")}


def permission_names(flags: list[str]) -> str:
    """``["manage_guild", "attach_files"]`` -> ``Manage Server, Attach Files``."""
    return ", ".join(
        _(_PERMISSION_NAMES.get(flag, flag.replace("_", " ").title())) for flag in flags
    )


def message_for(error: BaseException) -> str:
    """The member-facing text for an error raised by a command, a check or a button."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        return message_of(error)
    if isinstance(error, app_commands.MissingPermissions):
        return _("This needs the {permissions} permission.").format(
            permissions=permission_names(error.missing_permissions)
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return _("I'm missing the {permissions} permission here. Ask the server staff.").format(
            permissions=permission_names(error.missing_permissions)
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command works in a server channel, not in direct messages.")
    if isinstance(error, app_commands.CommandOnCooldown):
        return _("Slow down: try again in {seconds} s.").format(seconds=f"{error.retry_after:.0f}")
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or _("You can't use this command here.")
    if isinstance(error, app_commands.TransformerError):
        return _("I couldn't read {value}: {error}").format(value=repr(error.value), error=error)
    return _(GENERIC_FAILURE)


async def answer_error(interaction: discord.Interaction[WanBot], error: BaseException) -> None:
    """Reply privately with :func:`message_for`; log everything that is not a plain refusal."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    command = interaction.command.qualified_name if interaction.command else "component"
    if isinstance(
        original, UserFacingError | app_commands.CheckFailure | app_commands.TransformerError
    ):
        # In English whatever the member's language (bot.i18n.Text keeps the source).
        log.info(
            "refused /%s for user %s: %s",
            command,
            interaction.user.id,
            english(message_of(original)),
        )
        reason = getattr(original, "reason", None)
        if isinstance(original, UserFacingError) and reason:
            interaction.client.metrics.job_refused(reason)
    else:
        log.error(
            "/%s failed for user %s",
            command,
            interaction.user.id,
            exc_info=(type(original), original, original.__traceback__),
        )
    text = message_for(error)
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=text, embed=None, view=None, attachments=[]
            )
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning(
            "could not tell user %s about the error (interaction gone)", interaction.user.id
        )
