"""/jobs: a member's own recent and active jobs; cancel one; show a past result again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.checks import may_manage_job
from bot.discord_ui.embeds import cost_text, model_title, result_embed
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.generation import cancel_generation
from bot.discord_ui.views import result_view
from bot.jobs.records import Job
from bot.jobs.states import GENERATING_STATES, JobState
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


@app_commands.guild_only()
class Jobs(commands.GroupCog, group_name="jobs", group_description="Your generations"):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        super().__init__()

    async def _own_job(self, interaction: discord.Interaction[WanBot], job_id: int) -> Job:
        """A job of this server the member may manage (theirs, or any with Manage Messages)."""
        job = await self.bot.store.get_job(job_id)
        if job is None or interaction.guild is None or job.guild_id != interaction.guild.id:
            raise UserFacingError(f"There is no job #{job_id} on this server.")
        if not may_manage_job(interaction, job):
            raise UserFacingError(f"Job #{job_id} isn't yours.")
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
                "You have no generations here yet.", ephemeral=True
            )
            return
        lines = []
        for job in jobs:
            line = f"**#{job.id}** {model_title(job)} · {STATE_WORDS[job.state].short}"
            eta = self.bot.engine.eta(job)
            if eta is not None:
                line += f" · ETA about {clock(eta)}"
            line += f" · {cost_text(job)}"
            url = jump_url(interaction.guild.id, job)
            if url:
                line += f" · [open]({url})"
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
        active = [job for job in jobs if job.state in GENERATING_STATES]
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
        found = await self._own_job(interaction, job)
        if found.state is not JobState.DELIVERED:
            raise UserFacingError(
                f"Job #{found.id} has no result to show ({STATE_WORDS[found.state].short})."
            )
        assert interaction.guild is not None
        embed = result_embed(found, linked=False)
        url = jump_url(interaction.guild.id, found)
        if url:
            embed.add_field(name="Original", value=url, inline=False)
        await interaction.response.send_message(
            embed=embed,
            view=result_view(found, image_count=len(found.result_urls)),
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Jobs(bot))
