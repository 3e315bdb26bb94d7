"""Who may do what: the staff check for commands, and who may manage a job.

Why this module exists: "staff" and "may act on this job" were written three times (a cog's
``interaction_check``, a helper in another cog, the buttons), with three wordings. As in
Red-DiscordBot, checks live in one place and raise errors the command tree words once
(:mod:`bot.discord_ui.tree`).

Staff are members with Manage Server in the channel; a job may be managed (cancelled, its
result deleted or shown again) by the member who asked for it or by anyone with Manage
Messages there.

What it must never do: trust anything but the permissions Discord resolved for this
interaction (``interaction.permissions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.discord_ui.errors import UserFacingError
from bot.i18n import N_, _
from bot.jobs.records import Job

_F = TypeVar("_F")


def is_staff(interaction: discord.Interaction[Any]) -> bool:
    return interaction.guild is not None and interaction.permissions.manage_guild


def require_staff(interaction: discord.Interaction[Any]) -> bool:
    """Pass for staff; refuse everyone else with the missing permission named."""
    if not is_staff(interaction):
        raise app_commands.MissingPermissions(["manage_guild"])
    return True


def staff_only() -> Callable[[_F], _F]:
    """``@staff_only()`` on a command: staff only, checked when it runs (hidden commands can
    still be invoked, and servers can re-grant them per role)."""
    return app_commands.check(require_staff)


def may_manage_job(interaction: discord.Interaction[Any], job: Job) -> bool:
    return interaction.user.id == job.user_id or interaction.permissions.manage_messages


_REFUSALS = {
    "cancel": N_("Only the member who asked, or someone with Manage Messages, can cancel this."),
    "delete": N_("Only the member who asked, or someone with Manage Messages, can delete this."),
}


def require_job_manager(interaction: discord.Interaction[Any], job: Job, verb: str) -> None:
    """Refuse, saying who may, unless this member may ``verb`` the job (``cancel``,
    ``delete``: one whole sentence each, so a translation need not splice a verb in)."""
    if not may_manage_job(interaction, job):
        raise UserFacingError(
            _(_REFUSALS[verb])
            if verb in _REFUSALS
            else f"Only the member who asked, or someone with Manage Messages, can {verb} this."
        )
