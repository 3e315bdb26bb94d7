"""/usage: who spent what. Members see their own; staff see the server's, and export it.

Estimates held for jobs whose outcome is unknown (see ``Job.holds_estimate``) are spend that
may yet be given back, so every view says how much is held; staff also see which jobs, to
release them with ``/wanbot release``.

What it must never do: compute spend itself (the store sums the ledger), or show one member's
held jobs to another member.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.budget_left import budget_left_line
from bot.discord_ui.checks import staff_only
from bot.i18n import N_, _, ngettext
from bot.jobs.budget import period_start
from bot.jobs.records import Job, UsageRow
from bot.jobs.reports import ledger_csv
from bot.pricing import format_usd

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

Period = Literal["today", "month", "all"]
PERIOD_WORDS = {"today": N_("today (UTC)"), "month": N_("this month (UTC)"), "all": N_("all time")}


def usage_lines(rows: list[UsageRow]) -> list[str]:
    """One line per group: jobs, what they made, estimated and billed spend apart."""
    lines = []
    for row in rows:
        made = []
        if row.video_seconds:
            made.append(
                _("{seconds} s of video").format(seconds=f"{row.video_seconds.normalize():f}")
            )
        if row.images:
            made.append(_("{count} images").format(count=f"{row.images.normalize():f}"))
        lines.append(
            _("**{key}**: {jobs} job(s), {made}; {estimated} estimated, {billed} billed").format(
                key=row.key,
                jobs=row.jobs,
                made=", ".join(made) or _("nothing made"),
                estimated=format_usd(row.estimated),
                billed=format_usd(row.billed),
            )
        )
    return lines


def totals(rows: list[UsageRow]) -> tuple[int, Decimal, Decimal]:
    return (
        sum(row.jobs for row in rows),
        sum((row.estimated for row in rows), Decimal(0)),
        sum((row.billed for row in rows), Decimal(0)),
    )


# Held jobs named one by one in a staff view; the rest are counted (a message holds 2000 chars).
MAX_HELD_LISTED = 20


def held_line(held: list[Job], *, staff: bool) -> str | None:
    """What is held and for how many jobs (``None`` when nothing is); for staff, which jobs."""
    if not held:
        return None
    amount = sum((job.estimated_cost for job in held), Decimal(0))
    count = len(held)
    line = ngettext(
        "Held: {amount} for {count} job whose outcome is unknown",
        "Held: {amount} for {count} jobs whose outcome is unknown",
        count,
    ).format(amount=format_usd(amount), count=count)
    if not staff:
        return ngettext(
            "{line} (staff can release it with /wanbot release).",
            "{line} (staff can release them with /wanbot release).",
            count,
        ).format(line=line)
    listed = ", ".join(
        f"#{job.id} (<@{job.user_id}>, {format_usd(job.estimated_cost)})"
        for job in held[:MAX_HELD_LISTED]
    )
    more = (
        _(" and {count} more").format(count=count - MAX_HELD_LISTED)
        if count > MAX_HELD_LISTED
        else ""
    )
    return _("{line} (release with /wanbot release job:<id>): {listed}{more}.").format(
        line=line, listed=listed, more=more
    )


@app_commands.guild_only()
class Usage(commands.GroupCog, group_name="usage", group_description="Generation usage and spend"):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        super().__init__()

    async def _rows(
        self, guild_id: int, period: str, *, group_by: str, user_id: int | None = None
    ) -> list[UsageRow]:
        return await self.bot.store.usage(
            group_by=group_by,
            guild_id=guild_id,
            user_id=user_id,
            since=period_start(period, time.time()),
        )

    @app_commands.command(name="me", description="Your own generations and spend")
    @app_commands.guild_only()
    @app_commands.describe(period="Which period (default today)")
    async def me(self, interaction: discord.Interaction[WanBot], period: Period = "today") -> None:
        assert interaction.guild is not None
        rows = await self._rows(
            interaction.guild.id, period, group_by="model", user_id=interaction.user.id
        )
        jobs, estimated, billed = totals(rows)
        lines = [
            _(
                "**Your usage {period}**: {jobs} job(s), {total} ({estimated} estimated, "
                "{billed} billed)"
            ).format(
                period=_(PERIOD_WORDS[period]),
                jobs=jobs,
                total=format_usd(estimated + billed),
                estimated=format_usd(estimated),
                billed=format_usd(billed),
            )
        ]
        lines += usage_lines(rows)
        lines += await self._held(interaction.guild.id, interaction.user.id, staff=False)
        lines.append(await budget_left_line(self.bot, interaction.guild.id, interaction.user.id))
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    async def _held(self, guild_id: int, user_id: int | None, *, staff: bool) -> list[str]:
        line = held_line(
            await self.bot.store.held_jobs(guild_id=guild_id, user_id=user_id), staff=staff
        )
        return [] if line is None else [line]

    @app_commands.command(name="server", description="The server's spend (staff)")
    @staff_only()
    @app_commands.guild_only()
    @app_commands.describe(period="Which period (default this month)")
    async def server(
        self, interaction: discord.Interaction[WanBot], period: Period = "month"
    ) -> None:
        assert interaction.guild is not None
        by_model = await self._rows(interaction.guild.id, period, group_by="model")
        by_user = await self._rows(interaction.guild.id, period, group_by="user")
        jobs, estimated, billed = totals(by_model)
        lines = [
            _(
                "**Server usage {period}**: {jobs} job(s), {total} ({estimated} estimated, "
                "{billed} billed)"
            ).format(
                period=_(PERIOD_WORDS[period]),
                jobs=jobs,
                total=format_usd(estimated + billed),
                estimated=format_usd(estimated),
                billed=format_usd(billed),
            ),
            "",
            _("**By model**"),
        ]
        lines += usage_lines(by_model) or [_("nothing yet")]
        lines += ["", _("**Top spenders**")]
        lines += [
            _("{rank}. {member}: {total} over {jobs} job(s)").format(
                rank=rank, member=f"<@{row.key}>", total=format_usd(row.total), jobs=row.jobs
            )
            for rank, row in enumerate(by_user[:10], start=1)
        ] or [_("nobody yet")]
        held = await self._held(interaction.guild.id, None, staff=True)
        if held:
            lines += ["", *held]
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="user", description="One member's spend (staff)")
    @staff_only()
    @app_commands.guild_only()
    @app_commands.describe(member="Whose usage", period="Which period (default this month)")
    async def user(
        self,
        interaction: discord.Interaction[WanBot],
        member: discord.Member,
        period: Period = "month",
    ) -> None:
        assert interaction.guild is not None
        rows = await self._rows(interaction.guild.id, period, group_by="model", user_id=member.id)
        jobs, estimated, billed = totals(rows)
        lines = [
            _(
                "**{member} {period}**: {jobs} job(s), {total} ({estimated} estimated, "
                "{billed} billed)"
            ).format(
                member=member.mention,
                period=_(PERIOD_WORDS[period]),
                jobs=jobs,
                total=format_usd(estimated + billed),
                estimated=format_usd(estimated),
                billed=format_usd(billed),
            )
        ]
        lines += usage_lines(rows)
        lines += await self._held(interaction.guild.id, member.id, staff=True)
        lines.append(await budget_left_line(self.bot, interaction.guild.id, member.id))
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="export", description="The ledger as a CSV file (staff)")
    @staff_only()
    @app_commands.guild_only()
    @app_commands.describe(period="Which period (default this month)")
    async def export(
        self, interaction: discord.Interaction[WanBot], period: Period = "month"
    ) -> None:
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await ledger_csv(
            self.bot.store, guild_id=interaction.guild.id, since=period_start(period, time.time())
        )
        name = f"wanbot-ledger-{interaction.guild.id}-{period}.csv"
        await interaction.followup.send(
            _(
                "Ledger {period}: one row per reservation, release and settlement; amount_usd "
                "sums to the spend."
            ).format(period=_(PERIOD_WORDS[period])),
            file=discord.File(io.BytesIO(text.encode()), filename=name),
            ephemeral=True,
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Usage(bot))
