"""Posting results and notices to Discord, and keeping status messages current.

Why this module exists: this is the job engine's :class:`~bot.jobs.delivery.Deliverer` for
Discord. Everything goes through the bot's own channel routes (``channel.send``,
``PartialMessage.edit``), never the interaction webhook, whose token dies after 15 minutes
while a video can take longer.

Exactly once: each post carries a nonce derived from the job (Discord de-duplicates a resend
with the same nonce for a few minutes), and :meth:`find_delivered` looks for the bot's own
message with the job's footer marker in the channel, for the outbox to reconcile after a crash
between posting and recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import discord
from discord.utils import time_snowflake

from bot.discord_ui.audit import post_audit
from bot.discord_ui.embeds import marker, notice_embed, result_embed, status_embed
from bot.discord_ui.views import notice_view, result_view, status_view
from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.records import Job
from bot.jobs.states import JobState

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

HISTORY_SEARCH_LIMIT = 200
_USERS_ONLY = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False)
# The messageable channels that can hand out a PartialMessage for an edit by id.
_PARTIAL_MESSAGE_CHANNELS = (
    discord.TextChannel,
    discord.VoiceChannel,
    discord.StageChannel,
    discord.Thread,
    discord.DMChannel,
    discord.PartialMessageable,
)


class DiscordDeliverer:
    """The engine's deliverer for Discord channels."""

    def __init__(self, bot: WanBot, *, edit_interval: float) -> None:
        self.bot = bot
        # Least time between two edits of one status message that change nothing but the
        # progress, elapsed time or ETA (state changes are shown at once).
        self.edit_interval = edit_interval
        self._last_edit: dict[int, tuple[float, JobState]] = {}

    async def _channel(self, job: Job) -> discord.abc.Messageable:
        if job.channel_id is None:
            raise DeliveryFailed("the job has no channel", permanent=True)
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(job.channel_id)
            except discord.NotFound:
                raise DeliveryFailed("the channel was deleted", permanent=True) from None
            except discord.Forbidden:
                raise DeliveryFailed("no access to the channel any more", permanent=True) from None
            except discord.HTTPException as exc:
                raise DeliveryFailed(f"could not look up the channel: {exc}") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise DeliveryFailed("the channel cannot hold messages", permanent=True)
        return channel

    async def find_delivered(self, job: Job, kind: DeliveryKind) -> list[int] | None:
        channel = await self._channel(job)
        wanted = marker(job.id, kind.value)
        after = discord.Object(time_snowflake(_utc(job.created_at)))
        try:
            async for message in channel.history(limit=HISTORY_SEARCH_LIMIT, after=after):
                if self.bot.user is not None and message.author.id != self.bot.user.id:
                    continue
                if any(embed.footer.text == wanted for embed in message.embeds):
                    return [message.id]
        except discord.Forbidden:
            raise DeliveryFailed("no access to the channel history", permanent=True) from None
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"could not read the channel history: {exc}") from None
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        channel = await self._channel(job)
        limit = self._upload_limit(channel)
        fits = bool(files) and all(path.stat().st_size <= limit for path in files)
        try:
            message = await self._send_result(channel, job, files if fits else ())
        except discord.HTTPException as exc:
            if exc.status != 413 or not fits:
                raise _as_delivery_failure(exc) from None
            log.info("job %d: upload refused as too large; posting links instead", job.id)
            try:
                message = await self._send_result(channel, job, ())
            except discord.HTTPException as again:
                raise _as_delivery_failure(again) from None
        return [message.id]

    async def _send_result(
        self, channel: discord.abc.Messageable, job: Job, files: Sequence[Path]
    ) -> discord.Message:
        linked = not files
        view = result_view(
            job,
            image_count=len(files) or len(job.result_urls),
            links=job.result_urls if linked else (),
        )
        noun = (
            "video" if job.unit == "second" else "images" if len(job.result_urls) > 1 else "image"
        )
        verb = "are" if noun == "images" else "is"
        return await channel.send(
            content=f"<@{job.user_id}> your {noun} {verb} ready.",
            embed=result_embed(job, linked=linked),
            files=[discord.File(path, filename=path.name) for path in files],
            view=view,
            # cast: send()'s overloads omit None, which its implementation defaults to (no reply).
            reference=cast(discord.MessageReference, self._reference(channel, job)),
            allowed_mentions=_USERS_ONLY,
            nonce=_nonce(job, DeliveryKind.RESULT),
        )

    async def deliver_notice(self, job: Job) -> list[int]:
        channel = await self._channel(job)
        view = notice_view(job) if job.state is not JobState.CANCELLED else discord.utils.MISSING
        try:
            message = await channel.send(
                content=f"<@{job.user_id}>",
                embed=notice_embed(job),
                view=view,
                # cast: as in _send_result, None (no reply) is what send() itself defaults to.
                reference=cast(discord.MessageReference, self._reference(channel, job)),
                allowed_mentions=_USERS_ONLY,
                nonce=_nonce(job, DeliveryKind.NOTICE),
            )
        except discord.HTTPException as exc:
            raise _as_delivery_failure(exc) from None
        return [message.id]

    async def job_changed(self, job: Job) -> None:
        """Edit the status message: at once on a state change, else at most every
        ``edit_interval`` seconds."""
        if job.status_message_id is None or job.channel_id is None:
            return
        now = time.monotonic()
        last = self._last_edit.get(job.id)
        if last is not None and last[1] is job.state and now - last[0] < self.edit_interval:
            return
        self._last_edit[job.id] = (now, job.state)
        if job.state.final:
            self._last_edit.pop(job.id, None)
        try:
            channel = await self._channel(job)
            # Messageable does not declare get_partial_message; every channel a bot can be in
            # does (only group DMs lack it, and bots cannot join those).
            assert isinstance(channel, _PARTIAL_MESSAGE_CHANNELS)
            partial = channel.get_partial_message(job.status_message_id)
            await partial.edit(
                embed=status_embed(job, eta=self.bot.engine.eta(job)), view=status_view(job)
            )
        except (DeliveryFailed, discord.HTTPException) as exc:
            log.info("job %d: status message not updated (%s)", job.id, exc)

    async def alert(self, job: Job, text: str) -> None:
        """Tell the server's staff in its audit channel (none set: the log has it)."""
        if job.guild_id is None:
            return
        await post_audit(
            self.bot,
            job.guild_id,
            f"Job {job.id} needs a look",
            user_id=job.user_id,
            model_id=job.model_id,
            note=text,
        )

    @staticmethod
    def _reference(channel: discord.abc.Messageable, job: Job) -> discord.MessageReference | None:
        if job.status_message_id is None or job.channel_id is None:
            return None
        return discord.MessageReference(
            message_id=job.status_message_id, channel_id=job.channel_id, fail_if_not_exists=False
        )

    @staticmethod
    def _upload_limit(channel: discord.abc.Messageable) -> int:
        guild = getattr(channel, "guild", None)
        return guild.filesize_limit if guild is not None else 10 * 1024 * 1024


def _nonce(job: Job, kind: DeliveryKind) -> str:
    return f"wan{job.id}{kind.value[0]}"[:25]


def _utc(timestamp: float) -> datetime:
    """A moment safely before the job's first post (a minute of clock skew allowed)."""
    return datetime.fromtimestamp(timestamp - 60, UTC)


def _as_delivery_failure(exc: discord.HTTPException) -> DeliveryFailed:
    permanent = isinstance(exc, discord.Forbidden | discord.NotFound)
    return DeliveryFailed(f"Discord answered {exc.status}: {exc.text}", permanent=permanent)
