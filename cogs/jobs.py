"""/jobs: a member's own recent and active jobs; cancel one; show a past result again.

``/jobs show`` is also where a result that was made but could not be posted is fetched: the
provider's download links, privately, to the member who asked or to staff, while they last
(about a day after the job finished).

What it must never do: show a job's links to anyone but its owner or staff, post them in the
channel, or show links past their expiry as if they still worked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.checks import is_staff, may_manage_job
from bot.discord_ui.embeds import charge_sentence, cost_text, model_title, result_embed
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.generation import cancel_generation
from bot.discord_ui.translator import guild_locale
from bot.discord_ui.views import result_view
from bot.i18n import _, using_locale
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.wording import STATE_WORDS, clock

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


def jump_url(guild_id: int, job: Job) -> str | None:
    """The result message when there is one, else the status message."""
    message_id = (
        job.delivered_message_ids[0] if job.delivered_message_ids else job.status_message_id
    )
    if message_id is None or job.channel_id is None:
        return None
    return f"https://discord.com/channels/{guild_id}/{job.channel_id}/{message_id}"


def state_text(job: Job) -> str:
    """The state in a few words, saying when the job's estimate is held, and a queued job's
    place in the member's queue."""
    short = _(STATE_WORDS[job.state].short)
    if job.state is JobState.QUEUED and job.queue_ahead is not None:
        return _("{state}, #{place} in your queue").format(state=short, place=job.queue_ahead + 1)
    return _("{state}, estimate held").format(state=short) if job.holds_estimate else short


def undelivered(job: Job) -> bool:
    """The result was made (and charged) but could not be posted; its links were kept."""
    return (
        job.state is JobState.FAILED
        and job.error_code == "delivery_failed"
        and bool(job.result_urls)
    )


def undelivered_text(job: Job, *, now: float, ttl: float) -> str:
    """The download links of a result that could not be posted, with when they expire
    (``ttl`` seconds after the job finished), or that they have expired."""
    expires = (job.finished_at or job.created_at) + ttl
    when = f"<t:{int(expires)}:R>"
    head = _("Job #{job} was made but could not be posted.").format(job=job.id)
    if now >= expires:
        return (
            _(
                "{head} Its download links expired {when} (about a day after it finished), so "
                "the result can't be fetched any more; run the command again to make it anew."
            ).format(head=head, when=when)
            + f"\n{charge_sentence(job)}"
        )
    links = "\n".join(
        "[" + _("Download {number}").format(number=index) + f"]({url})"
        for index, url in enumerate(job.result_urls, start=1)
    )
    return (
        _(
            "{head} Download it while the links last: they expire {when}, about a day after it "
            "finished."
        ).format(head=head, when=when)
        + f"\n{links}\n{charge_sentence(job)}"
    )


def no_result_text(job: Job) -> str:
    """Why ``/jobs show`` has nothing to show; for a job that ended, what it was charged."""
    text = _("Job #{job} has no result to show ({state}).").format(
        job=job.id, state=state_text(job)
    )
    return f"{text} {charge_sentence(job)}" if job.state.final else text


@app_commands.guild_only()
class Jobs(commands.GroupCog, group_name="jobs", group_description="Your generations"):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        super().__init__()

    async def _own_job(
        self, interaction: discord.Interaction[WanBot], job_id: int, *, staff_too: bool = False
    ) -> Job:
        """A job of this server the member may manage (theirs, or any with Manage Messages;
        with ``staff_too``, any for staff as well)."""
        job = await self.bot.store.get_job(job_id)
        if job is None or interaction.guild is None or job.guild_id != interaction.guild.id:
            raise UserFacingError(_("There is no job #{job} on this server.").format(job=job_id))
        if not (may_manage_job(interaction, job) or (staff_too and is_staff(interaction))):
            raise UserFacingError(_("Job #{job} isn't yours.").format(job=job_id))
        return job

    @app_commands.command(name="list", description="Your recent and active generations")
    @app_commands.guild_only()
    async def list_jobs(self, interaction: discord.Interaction[WanBot]) -> None:
        assert interaction.guild is not None
        jobs = await self.bot.store.jobs_for_user(
            interaction.user.id, interaction.guild.id, limit=15
        )
        if not jobs:
            await interaction.response.send_message(
                _("You have no generations here yet."), ephemeral=True
            )
            return
        lines = []
        for job in jobs:
            line = f"**#{job.id}** {model_title(job)} · {state_text(job)}"
            eta = self.bot.engine.eta(job)
            if eta is not None:
                line += " · " + _("ETA about {time}").format(time=clock(eta))
            line += f" · {cost_text(job)}"
            url = jump_url(interaction.guild.id, job)
            if url:
                line += " · [" + _("open") + f"]({url})"
            lines.append(line)
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your generations")
    @app_commands.guild_only()
    @app_commands.describe(job="The job to cancel")
    async def cancel(self, interaction: discord.Interaction[WanBot], job: int) -> None:
        found = await self._own_job(interaction, job)
        await cancel_generation(interaction, found)

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[WanBot], current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild is None:
            return []
        jobs = await self.bot.store.jobs_for_user(
            interaction.user.id, interaction.guild.id, limit=50
        )
        active = [job for job in jobs if job.state.generating or job.state.waiting]
        return [
            app_commands.Choice(
                name=f"#{job.id} {model_title(job)}: {job.request.get('prompt', '')}"[:100],
                value=job.id,
            )
            for job in active
            if current.strip() in str(job.id) or not current.strip()
        ][:25]

    @app_commands.command(name="show", description="Post a past result again, with its buttons")
    @app_commands.guild_only()
    @app_commands.describe(job="The job to show")
    async def show(self, interaction: discord.Interaction[WanBot], job: int) -> None:
        found = await self._own_job(interaction, job, staff_too=True)
        if undelivered(found):
            embed = discord.Embed(
                title=model_title(found) + " · " + _("not posted"),
                colour=discord.Colour.orange(),
                description=undelivered_text(
                    found, now=time.time(), ttl=self.bot.engine.config.result_ttl_seconds
                ),
            )
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
            return
        if found.state is not JobState.DELIVERED:
            raise UserFacingError(no_result_text(found))
        assert interaction.guild is not None
        with using_locale(guild_locale(interaction.guild)):  # a public post: the server's
            embed = result_embed(found, linked=False)
            url = jump_url(interaction.guild.id, found)
            if url:
                embed.add_field(name=_("Original"), value=url, inline=False)
            view = result_view(found, image_count=len(found.result_urls))
        await interaction.response.send_message(
            embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Jobs(bot))
