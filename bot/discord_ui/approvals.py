"""Staff approval of expensive jobs: the request message, and what a decision does.

Why this module exists: a moderated server may say that a job estimated above a threshold
(``/wanbot approval``) waits for a staff decision. The job waits in the database
(``awaiting_approval``, its estimate reserved; :mod:`bot.jobs.queue` lets it lapse), the
request to staff is an outbox post (:meth:`ApprovalRequests.post`: exactly once, found again
after a crash by its footer marker, as the deliverer finds its other posts), and its Approve /
Deny buttons are :class:`discord.ui.DynamicItem`\\ s of :mod:`bot.discord_ui.buttons`, so a
request posted before a restart still works after it; they call :func:`decide`. A decision is
a compare-and-set in the store: two staff members clicking at once decide once; every decision
is audited, and the request message is edited to say who decided.

The request, its decision line and the audit posts are staff's records and stay English, as
the audit channel does (:mod:`bot.i18n`); what a clicker is answered is in their language.

What it must never do: let anyone but staff (Manage Server in the request's channel) decide,
render the member's prompt as markup, or decide a job that is no longer awaiting a decision.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import TYPE_CHECKING

import discord

from bot.discord_ui.audit import post_audit
from bot.discord_ui.checks import is_staff
from bot.discord_ui.embeds import marker, model_title, settings_text
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.markdown import excerpt
from bot.discord_ui.views import approval_view
from bot.i18n import _
from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.inputs import INPUT_PREFIX
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.pricing import format_usd
from bot.wording import STATE_WORDS

if TYPE_CHECKING:
    from bot.discord_ui.channel_writer import ChannelWriter
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

_MAX_PREVIEWS = 4
_COLOUR = discord.Colour.gold()


def request_embed(job: Job, *, outcome: str | None = None) -> discord.Embed:
    """What staff decide on: who, what, where, how much, until when; ``outcome`` once
    decided (then without buttons)."""
    prompt = job.request.get("prompt")
    embed = discord.Embed(
        title=f"Approval needed · {model_title(job)}",
        colour=_COLOUR if outcome is None else discord.Colour.light_grey(),
        description=f"> {excerpt(prompt, 1000)}" if prompt else "*(no prompt)*",
    )
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    if job.channel_id is not None:
        embed.add_field(name="Channel", value=f"<#{job.channel_id}>")
    embed.add_field(name="Estimate", value=format_usd(job.estimated_cost))
    embed.add_field(name="Settings", value=settings_text(job), inline=False)
    if outcome is not None:
        embed.add_field(name="Decision", value=outcome, inline=False)
    elif job.approval_expires_at is not None:
        embed.add_field(
            name="Lapses", value=f"<t:{int(job.approval_expires_at)}:R> if nobody decides"
        )
    embed.set_footer(text=marker(job.id, DeliveryKind.APPROVAL.value))
    return embed


class ApprovalRequests:
    """The deliverer's part for approval requests: post them, find them, close them."""

    def __init__(self, bot: WanBot, writer: ChannelWriter) -> None:
        self.bot = bot
        self.writer = writer

    async def destination(self, job: Job) -> discord.abc.Messageable:
        """The channel the job's request goes to (its approval channel, else the audit
        channel); :class:`DeliveryFailed`, permanent, when there is none the bot can post in."""
        if job.guild_id is None:
            raise DeliveryFailed("approval is a server's rule", permanent=True)
        config = await self.bot.store.guild_config(job.guild_id)
        channel_id = config.policy.approval_destination
        if channel_id is None:
            raise DeliveryFailed("the server has no approval or audit channel", permanent=True)
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                raise DeliveryFailed("the approval channel is gone", permanent=True) from None
            except discord.HTTPException as exc:
                raise DeliveryFailed(f"could not look up the channel: {exc}") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise DeliveryFailed("the approval channel cannot hold messages", permanent=True)
        return channel

    async def post(self, job: Job) -> list[int]:
        """The request, with the job's input images, in the approval channel."""
        channel = await self.destination(job)
        files = [
            discord.File(io.BytesIO(data), filename=name) for name, data in await self._inputs(job)
        ]
        try:
            async with self.writer.post(getattr(channel, "id", 0)):
                message = await channel.send(
                    embed=request_embed(job),
                    files=files,
                    view=approval_view(job),
                    allowed_mentions=discord.AllowedMentions.none(),
                    nonce=f"wan{job.id}a"[:25],
                )
        except discord.HTTPException as exc:
            permanent = isinstance(exc, discord.Forbidden | discord.NotFound)
            raise DeliveryFailed(
                f"Discord answered {exc.status}: {exc.text}", permanent=permanent
            ) from None
        return [message.id]

    async def _inputs(self, job: Job) -> list[tuple[str, bytes]]:
        """The job's input images while the bot keeps them (it does until the job is sent),
        named as on the status message (``input-<field>-<n>.<ext>``)."""
        found: list[tuple[str, bytes]] = []
        for ref in (await self.bot.store.inputs_of(job.id))[:_MAX_PREVIEWS]:
            extension = ref.mime.split("/")[-1].replace("jpeg", "jpg")
            with contextlib.suppress(OSError, ValueError):
                data = self.bot.engine.inputs.read(f"{INPUT_PREFIX}{ref.sha256}")
                found.append((f"input-{ref.field}-{ref.position + 1}.{extension}", data))
        return found

    async def close(self, job: Job, outcome: str) -> None:
        """Best effort: the request says how it ended and loses its buttons."""
        message_ids = await self.bot.store.posted_message_ids(job.id, DeliveryKind.APPROVAL.value)
        if not message_ids:
            return
        try:
            channel = await self.destination(job)
            message = channel.get_partial_message(message_ids[0])  # type: ignore[attr-defined]
            async with self.writer.post(getattr(channel, "id", 0)):
                await message.edit(embed=request_embed(job, outcome=outcome), view=None)
        except (DeliveryFailed, discord.HTTPException, AttributeError) as exc:
            log.info("job %d: approval request not updated (%s)", job.id, exc)


def lapsed_outcome(job: Job) -> str:
    return (
        "Lapsed: nobody decided in time. The member was told; nothing was charged."
        if job.error_code == "approval_expired"
        else "Withdrawn: the member cancelled it. Nothing was charged."
        if job.error_code == "cancelled"
        else "Ended without a decision."
    )


async def decide(interaction: discord.Interaction[WanBot], job: Job, *, approve: bool) -> None:
    """Approve or deny ``job`` for the staff member who clicked (the Approve / Deny buttons of
    :mod:`bot.discord_ui.buttons`); refuses anyone else, and a job no longer awaiting a
    decision. The engine's compare-and-set decides once; the request is closed and the
    decision audited."""
    if not is_staff(interaction):
        raise UserFacingError(_("Only server staff (Manage Server) can approve or deny requests."))
    await interaction.response.defer(ephemeral=True, thinking=True)
    if job.state is not JobState.AWAITING_APPROVAL:
        raise UserFacingError(
            _("Job #{job} is no longer waiting for a decision ({state}).").format(
                job=job.id, state=_(STATE_WORDS[job.state].short)
            )
        )
    engine, staff = interaction.client.engine, interaction.user.id
    decided = (
        await engine.approve(job.id, staff) is not None
        if approve
        else await engine.deny(job.id, staff)
    )
    if not decided:
        raise UserFacingError(
            _("Job #{job} is no longer waiting for a decision.").format(job=job.id)
        )
    if approve:
        title, outcome = "Generation approved", f"Approved by <@{staff}>."
        reply = _("Approved job #{job}: it starts as soon as <@{member}> has a free slot.").format(
            job=job.id, member=job.user_id
        )
    else:
        title, outcome = "Generation denied", f"Denied by <@{staff}>. Nothing was charged."
        reply = _("Denied job #{job}: its reservation was released and the member told.").format(
            job=job.id
        )
    await interaction.edit_original_response(content=reply)
    bot = interaction.client
    approvals = getattr(bot.deliverer, "approvals", None)
    if isinstance(approvals, ApprovalRequests):
        await approvals.close(await bot.store.get_job(job.id) or job, outcome)
    if job.guild_id is not None:
        await post_audit(
            bot,
            job.guild_id,
            title,
            user_id=job.user_id,
            model_id=job.model_id,
            prompt=job.request.get("prompt"),
            cost=f"{format_usd(job.estimated_cost)} (estimated)",
            note=f"job #{job.id} of <@{job.user_id}>, decided by <@{staff}>",
        )
