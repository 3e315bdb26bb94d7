"""/help: what the bot does here, for the member asking, privately.

Why this module exists: a member should not have to try a command to learn that a model is off
in this server, what a video costs at this server's settings, how much of their budget is left
today or that generation only works in one channel. ``/help`` answers from the same settings
the checks read, so it can never say something the next command would contradict.

What it must never do: answer publicly, show another member's figures, or price anything but
from the price table and this server's defaults (bot.defaults).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import defaults
from bot.availability import models_off
from bot.catalog import resolve
from bot.discord_ui.budget_left import budget_left_line
from bot.discord_ui.checks import is_staff
from bot.i18n import N_, _
from bot.jobs.records import GuildConfig
from bot.pricing import format_usd

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

# Each generation command and the model it runs.
GENERATION_COMMANDS: tuple[tuple[str, str], ...] = (
    ("wan-t2v", "wan2.2-t2v-plus"),
    ("wan-i2v", "wan2.6-i2v"),
    ("wan-i2v-flash", "wan2.2-i2v-flash"),
    ("wan-i2i", "wan2.5-i2i-preview"),
)
OTHER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("/usage me", N_("your jobs and spend, and your budget left")),
    ("/jobs list", N_("your recent and running jobs, with links")),
    ("/jobs cancel", N_("stop one of your jobs (free until the provider accepted it)")),
    ("/jobs show", N_("post one of your results again, with its buttons")),
)


class Help(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What wanbot does here, and what it costs")
    @app_commands.guild_only()
    async def help(self, interaction: discord.Interaction[WanBot]) -> None:
        assert interaction.guild is not None
        config = await self.bot.store.guild_config(interaction.guild.id)
        lines = [_("**Generate**"), *self._generation_lines(config)]
        lines += ["", _("**Your jobs**")]
        lines += [f"{name}: {_(what)}" for name, what in OTHER_COMMANDS]
        lines += ["", _("**You, here**")]
        lines.append(await budget_left_line(self.bot, interaction.guild.id, interaction.user.id))
        lines += self._rules(interaction, config)
        if is_staff(interaction):
            lines += [
                "",
                _("Staff: `/wanbot show` lists every setting; `/usage server` the spend."),
            ]
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    def _generation_lines(self, config: GuildConfig) -> list[str]:
        off_here = set(config.policy.disabled_models)
        off_on_bot = models_off(self.bot.settings)
        lines = []
        for command, model_id in GENERATION_COMMANDS:
            found = self.bot.tree.get_command(command)
            # The description as registered, in the member's language (the same catalog entry).
            what = _(found.description) if found is not None else model_id
            if model_id in off_on_bot:
                lines.append(
                    _("/{command}: off on this bot ({why})").format(
                        command=command, why=off_on_bot[model_id].reason
                    )
                )
                continue
            if model_id in off_here:
                lines.append(_("/{command}: turned off on this server").format(command=command))
                continue
            spec = resolve(model_id, self.bot.settings)
            server = config.policy.option_defaults.get(model_id, {})
            settings = defaults.at_defaults(spec, {}, server)
            cost = defaults.estimate(self.bot.engine.prices, spec, settings)
            lines.append(
                _("/{command}: {what} About {cost} at this server's defaults ({defaults}).").format(
                    command=command,
                    what=what,
                    cost=format_usd(cost),
                    defaults=defaults.describe_all(spec, server),
                )
            )
        return lines

    def _rules(self, interaction: discord.Interaction[WanBot], config: GuildConfig) -> list[str]:
        policy, limits = config.policy, config.limits
        default_limits = self.bot.engine.config.default_limits
        concurrent = limits.max_concurrent_per_user or default_limits.max_concurrent_per_user
        cooldown = limits.cooldown_seconds or default_limits.cooldown_seconds or 0
        lines = []
        if policy.allowed_channel_ids:
            where = ", ".join(f"<#{channel}>" for channel in policy.allowed_channel_ids)
            lines.append(_("Generation works in: {channels}.").format(channels=where))
        else:
            lines.append(_("Generation works in every channel the bot can post in."))
        if policy.allowed_role_ids:
            roles = {role.id for role in getattr(interaction.user, "roles", ())}
            allowed = ", ".join(f"<@&{role}>" for role in policy.allowed_role_ids)
            mine = _("you have one") if roles & set(policy.allowed_role_ids) else _("you have none")
            if is_staff(interaction):
                mine = _("staff always may")
            lines.append(
                _("Who may generate: members with {roles} ({mine}).").format(
                    roles=allowed, mine=mine
                )
            )
        lines.append(
            _("Jobs at once: {jobs}; cooldown between submissions: {seconds} s.").format(
                jobs=concurrent or _("no limit"), seconds=f"{cooldown:.0f}"
            )
        )
        lines += self._waiting(interaction, config)
        lines.append(
            _("Safety filter: locked on.")
            if policy.safety_locked
            else _("Safety filter: on, except where you turn it off in an age-restricted channel.")
        )
        return lines

    def _waiting(self, interaction: discord.Interaction[WanBot], config: GuildConfig) -> list[str]:
        """The queue past the job limit, and the approval threshold (who is exempt)."""
        policy = config.policy
        queue = config.limits.over(self.bot.engine.config.default_limits).queue_per_user or 0
        lines = []
        if queue:
            lines.append(
                _(
                    "Past that limit up to {count} more wait in your queue: reserved at once, "
                    "started by themselves in turn, free to cancel until they start."
                ).format(count=queue)
            )
        if policy.approval_above is not None:
            roles = {role.id for role in getattr(interaction.user, "roles", ())}
            if is_staff(interaction):
                you = _("staff never wait")
            elif roles & set(policy.approval_exempt_role_ids):
                you = _("your role is exempt")
            else:
                you = _("a request lapses after {hours} h").format(
                    hours=f"{policy.approval_expire_hours:g}"
                )
            lines.append(
                _(
                    "Jobs estimated above {threshold} wait for a staff member to approve them "
                    "({you})."
                ).format(threshold=format_usd(policy.approval_above), you=you)
            )
        return lines


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Help(bot))
