"""Staff approval of expensive jobs: the request message and its Approve / Deny buttons.

Why this module exists: a moderated server may say that a job estimated above a threshold
(``/wanbot approval``) waits for a staff decision. The job waits in the database
(``awaiting_approval``, its estimate reserved; :mod:`bot.jobs.queue` lets it lapse), the
request to staff is an outbox post (:meth:`ApprovalRequests.post`: exactly once, found again
after a crash by its footer marker), and the buttons are :class:`discord.ui.DynamicItem`\\ s,
so a request posted before a restart still works after it. A decision is a compare-and-set in
the store: two staff members clicking at once decide once; every decision is audited, and the
request message is edited to say who decided.

The request, its decision line and the audit posts are staff's records and stay English, as
the audit channel does (:mod:`bot.i18n`); what a clicker is answered is in their language.

What it must never do: let anyone but staff (Manage Server in the request's channel) decide,
render the member's prompt as markup, or decide a job that is no longer awaiting a decision.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord.utils import time_snowflake

from bot.catalog import MediaRole, spec_for
from bot.config import ProviderName
from bot.discord_ui.audit import post_audit
from bot.discord_ui.checks import is_staff
from bot.discord_ui.embeds import marker, model_title, settings_text
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.markdown import excerpt
from bot.discord_ui.translator import use_member_locale
from bot.discord_ui.tree import answer_error
from bot.discord_ui.views import Action, approval_view, button, template
from bot.i18n import _
from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.pricing import format_usd
from bot.wording import STATE_WORDS

if TYPE_CHECKING:
    from bot.discord_ui.channel_writer import ChannelWriter
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

_HISTORY_LIMIT = 200
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

    async def _destination(self, job: Job) -> discord.abc.Messageable:
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
        channel = await self._destination(job)
        files = [discord.File(io.BytesIO(data), filename=name) for name, data in self._inputs(job)]
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

    def _inputs(self, job: Job) -> list[tuple[str, bytes]]:
        """The job's input images while the bot keeps them (it does until the job is sent)."""
        spec = spec_for(job.model_id, ProviderName(job.provider))
        found: list[tuple[str, bytes]] = []
        for name, role in spec.request_type.media_fields().items():
            if role is MediaRole.AUDIO_URL or job.request.get(name) is None:
                continue
            value = job.request[name]
            for position, ref in enumerate(value if isinstance(value, list) else [value]):
                with contextlib.suppress(OSError, ValueError):
                    data = self.bot.engine.inputs.read(str(ref))
                    found.append((f"input-{name}-{position}.png", data))
        return found[:_MAX_PREVIEWS]

    async def find(self, job: Job, *, since: float) -> list[int] | None:
        """An earlier post of this request (a crash between posting and recording it)."""
        try:
            channel = await self._destination(job)
        except DeliveryFailed:
            return None
        wanted = marker(job.id, DeliveryKind.APPROVAL.value)
        after = discord.Object(time_snowflake(datetime.fromtimestamp(since - 60, UTC)))
        try:
            async for message in channel.history(
                limit=_HISTORY_LIMIT, after=after, oldest_first=False
            ):
                if self.bot.user is not None and message.author.id != self.bot.user.id:
                    continue
                if any(embed.footer.text == wanted for embed in message.embeds):
                    return [message.id]
        except discord.Forbidden:
            return None
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"could not read the channel history: {exc}") from None
        return None

    async def close(self, job: Job, outcome: str) -> None:
        """Best effort: the request says how it ended and loses its buttons."""
        message_ids = await self.bot.store.posted_message_ids(job.id, DeliveryKind.APPROVAL.value)
        if not message_ids:
            return
        try:
            channel = await self._destination(job)
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


class _DecisionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"wan:decide:(?P<job>\d+)"
):
    """Base of Approve and Deny: staff only, one decision per job, audited."""

    action = Action.APPROVE

    def __init__(self, job_id: int) -> None:
        super().__init__(button(self.action, job_id))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> _DecisionButton:
        return cls(int(match["job"]))

    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        use_member_locale(interaction)  # the clicker's answers in their language (bot.i18n)
        return True

    # As bot.discord_ui.buttons.JobButton: Interaction[ClientT] cannot be narrowed to WanBot.
    async def callback(self, interaction: discord.Interaction[WanBot]) -> None:  # type: ignore[override]
        try:
            if not is_staff(interaction):
                raise UserFacingError(
                    _("Only server staff (Manage Server) can approve or deny requests.")
                )
            await interaction.response.defer(ephemeral=True, thinking=True)
            job = await interaction.client.store.get_job(self.job_id)
            if job is None:
                raise UserFacingError(_("Job #{job} no longer exists.").format(job=self.job_id))
            if job.state is not JobState.AWAITING_APPROVAL:
                raise UserFacingError(
                    _("Job #{job} is no longer waiting for a decision ({state}).").format(
                        job=job.id, state=_(STATE_WORDS[job.state].short)
                    )
                )
            await self.decide(interaction, job)
        except Exception as exc:  # a button has no command tree: answer here
            await answer_error(interaction, exc)

    async def decide(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        raise NotImplementedError


async def _after_decision(
    interaction: discord.Interaction[WanBot], job: Job, title: str, outcome: str, reply: str
) -> None:
    bot = interaction.client
    await interaction.edit_original_response(content=reply)
    updated = await bot.store.get_job(job.id) or job
    approvals = getattr(bot.deliverer, "approvals", None)
    if isinstance(approvals, ApprovalRequests):
        await approvals.close(updated, outcome)
    if job.guild_id is not None:
        await post_audit(
            bot,
            job.guild_id,
            title,
            user_id=job.user_id,
            model_id=job.model_id,
            prompt=job.request.get("prompt"),
            cost=f"{format_usd(job.estimated_cost)} (estimated)",
            note=f"job #{job.id} of <@{job.user_id}>, decided by <@{interaction.user.id}>",
        )


def no_longer_waiting(job: Job) -> str:
    return _("Job #{job} is no longer waiting for a decision.").format(job=job.id)


class ApproveButton(_DecisionButton, template=template(Action.APPROVE)):
    action = Action.APPROVE

    async def decide(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        approved = await interaction.client.engine.approve(job.id, interaction.user.id)
        if approved is None:
            raise UserFacingError(no_longer_waiting(job))
        await _after_decision(
            interaction,
            job,
            "Generation approved",
            f"Approved by <@{interaction.user.id}>.",
            _("Approved job #{job}: it starts as soon as <@{member}> has a free slot.").format(
                job=job.id, member=job.user_id
            ),
        )


class DenyButton(_DecisionButton, template=template(Action.DENY)):
    action = Action.DENY

    async def decide(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        if not await interaction.client.engine.deny(job.id, interaction.user.id):
            raise UserFacingError(no_longer_waiting(job))
        await _after_decision(
            interaction,
            job,
            "Generation denied",
            f"Denied by <@{interaction.user.id}>. Nothing was charged.",
            _("Denied job #{job}: its reservation was released and the member told.").format(
                job=job.id
            ),
        )


DYNAMIC_ITEMS = (ApproveButton, DenyButton)
