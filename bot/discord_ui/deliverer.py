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

import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import discord
from discord.utils import time_snowflake

from bot.discord_ui.approvals import ApprovalRequests, lapsed_outcome
from bot.discord_ui.audit import post_audit
from bot.discord_ui.channel_writer import ChannelWriter
from bot.discord_ui.embeds import marker, notice_embed, result_embed, status_embed
from bot.discord_ui.status_messages import StatusMessages, partial_message_editor
from bot.discord_ui.translator import guild_locale
from bot.discord_ui.views import notice_view, result_view, status_view
from bot.i18n import _, using_locale
from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.records import Job
from bot.jobs.states import JobState

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

HISTORY_SEARCH_LIMIT = 200
_DM_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's limit outside a boosted server
_GUILD_LIMIT_TTL = 600.0  # seconds a fetched server's upload limit is reused
_USERS_ONLY = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False)


class DiscordDeliverer:
    """The engine's deliverer for Discord channels."""

    def __init__(
        self, bot: WanBot, *, edit_interval: float, writer: ChannelWriter | None = None
    ) -> None:
        self.bot = bot
        # One writer per channel for everything the bot writes there: posts first, then
        # status edits (latest state per message) within the channel's limit.
        self.writer = writer or ChannelWriter()
        self.status = StatusMessages(
            self.writer,
            edit=partial_message_editor(self._channel),
            eta=lambda job: self.bot.engine.eta(job),  # lazy: the engine comes later
            # Least time between two edits that change nothing but progress, elapsed, ETA.
            edit_interval=edit_interval,
            on_message_gone=lambda job_id: self.bot.store.forget_status_message(job_id),
            locale_of=self.locale_of,
        )
        self._guild_limits: dict[int, tuple[float, int]] = {}
        self.approvals = ApprovalRequests(bot, self.writer)

    def locale_of(self, job: Job) -> str:
        """The language of the job's public posts: its server's (English in direct messages
        and for a server not in the cache)."""
        guild = self.bot.get_guild(job.guild_id) if job.guild_id is not None else None
        return guild_locale(guild)

    async def _channel(self, job: Job) -> discord.abc.Messageable:
        """The job's channel. :class:`ChannelGone` when it was deleted or the bot lost access
        (post to the member directly instead); a transient failure for anything else."""
        if job.channel_id is None:
            raise ChannelGone("the job has no channel")
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(job.channel_id)
            except discord.NotFound:
                raise ChannelGone("the channel was deleted") from None
            except discord.Forbidden:
                raise ChannelGone("no access to the channel any more") from None
            except discord.HTTPException as exc:
                raise DeliveryFailed(f"could not look up the channel: {exc}") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise ChannelGone("the channel cannot hold messages")
        return channel

    async def _direct(self, job: Job) -> discord.DMChannel:
        """The requester's direct-message channel (the fallback destination)."""
        try:
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            return user.dm_channel or await user.create_dm()
        except discord.NotFound:
            raise DeliveryFailed("the member's account is gone", permanent=True) from None
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"could not open a direct message: {exc}") from None

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        """Look for the bot's own post with the job's marker, newest first, among messages
        posted since the earlier attempt began (a minute of clock skew allowed): in the job's
        channel, then in the member's direct messages (the fallback destination); an
        approval request in the channel requests go to."""
        wanted = marker(job.id, kind.value)
        after = discord.Object(time_snowflake(_utc(since)))
        destinations: list[discord.abc.Messageable] = []
        if kind is DeliveryKind.APPROVAL:
            with contextlib.suppress(DeliveryFailed):  # nowhere to post: nothing was posted
                destinations.append(await self.approvals.destination(job))
        else:
            with contextlib.suppress(ChannelGone):
                destinations.append(await self._channel(job))
            with contextlib.suppress(DeliveryFailed):  # no direct messages: nothing sent there
                destinations.append(await self._direct(job))
        for channel in destinations:
            try:
                async for message in channel.history(
                    limit=HISTORY_SEARCH_LIMIT, after=after, oldest_first=False
                ):
                    if self.bot.user is not None and message.author.id != self.bot.user.id:
                        continue
                    if any(embed.footer.text == wanted for embed in message.embeds):
                        return [message.id]
            except discord.Forbidden:
                continue  # no history to read here: nothing of ours can be found in it
            except discord.HTTPException as exc:
                raise DeliveryFailed(f"could not read the channel history: {exc}") from None
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        try:
            channel = await self._channel(job)
            limit = await self._upload_limit(job, channel)
            try:
                return [(await self._send_result_with_fallbacks(channel, job, files, limit)).id]
            except DeliveryFailed as exc:
                if not exc.permanent:
                    raise
                raise ChannelGone(str(exc)) from None
        except ChannelGone as gone:
            return await self._to_member(job, str(gone), files, direct=True)

    async def _send_result_with_fallbacks(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        files: Sequence[Path],
        limit: int,
    ) -> discord.Message:
        fits = bool(files) and all(path.stat().st_size <= limit for path in files)
        try:
            return await self._send_result(channel, job, files if fits else ())
        except discord.HTTPException as exc:
            if fits and (exc.status == 413 or _missing_permissions(exc)):
                # Too large for this server, or no Attach Files here: post the links.
                log.info("job %d: upload refused (%s); posting links instead", job.id, exc.status)
                try:
                    return await self._send_result(channel, job, ())
                except discord.HTTPException as again:
                    raise _as_delivery_failure(again) from None
            raise _as_delivery_failure(exc) from None

    async def _to_member(
        self, job: Job, why: str, files: Sequence[Path], *, direct: bool
    ) -> list[int]:
        """The channel is gone or closed to the bot: send it to the member directly, once,
        and tell the server's staff."""
        dm = await self._direct(job)
        try:
            if direct:
                message = await self._send_result_with_fallbacks(dm, job, files, _DM_UPLOAD_LIMIT)
            else:
                message = await self._send_notice(dm, job)
        except DeliveryFailed as exc:
            if exc.permanent:
                raise DeliveryFailed(
                    f"{why}, and the member takes no direct messages", permanent=True
                ) from None
            raise
        log.warning("job %d: %s; sent to the member by direct message", job.id, why)
        await self.alert(
            job,
            f"Could not post job {job.id} in <#{job.channel_id}> ({why}); it was sent to the "
            "member by direct message.",
        )
        return [message.id]

    async def _send_result(
        self, channel: discord.abc.Messageable, job: Job, files: Sequence[Path]
    ) -> discord.Message:
        with using_locale(self.locale_of(job)):
            return await self._send_result_here(channel, job, files)

    async def _send_result_here(
        self, channel: discord.abc.Messageable, job: Job, files: Sequence[Path]
    ) -> discord.Message:
        linked = not files
        view = result_view(
            job,
            image_count=len(files) or len(job.result_urls),
            links=job.result_urls if linked else (),
        )
        ready = (
            _("{member} your video is ready.")
            if job.unit == "second"
            else _("{member} your images are ready.")
            if len(job.result_urls) > 1
            else _("{member} your image is ready.")
        )
        async with self.writer.post(_channel_id(channel)):
            return await channel.send(
                content=ready.format(member=f"<@{job.user_id}>"),
                embed=result_embed(job, linked=linked),
                files=[discord.File(path, filename=path.name) for path in files],
                view=view,
                # cast: send()'s overloads omit None, which its implementation defaults to.
                reference=cast(discord.MessageReference, self._reference(channel, job)),
                allowed_mentions=_USERS_ONLY,
                nonce=_nonce(job, DeliveryKind.RESULT),
            )

    async def deliver_approval(self, job: Job) -> list[int]:
        return await self.approvals.post(job)

    async def deliver_notice(self, job: Job) -> list[int]:
        try:
            channel = await self._channel(job)
            try:
                posted = [(await self._send_notice(channel, job)).id]
            except DeliveryFailed as exc:
                if not exc.permanent:
                    raise
                raise ChannelGone(str(exc)) from None
        except ChannelGone as gone:
            posted = await self._to_member(job, str(gone), (), direct=False)
        if job.approval_expires_at is not None and job.decided_by is None:
            await self._undecided(job)
        return posted

    async def _undecided(self, job: Job) -> None:
        """A job that awaited approval ended without a decision (it lapsed, or its member
        withdrew it): its request says so, and a lapse is audited like a decision."""
        await self.approvals.close(job, lapsed_outcome(job))
        if job.error_code == "approval_expired" and job.guild_id is not None:
            await post_audit(
                self.bot,
                job.guild_id,
                "Approval lapsed",
                user_id=job.user_id,
                model_id=job.model_id,
                prompt=job.request.get("prompt"),
                cost="nothing (released)",
                note=f"job #{job.id} of <@{job.user_id}>: no decision in time",
            )

    async def _send_notice(self, channel: discord.abc.Messageable, job: Job) -> discord.Message:
        with using_locale(self.locale_of(job)):
            return await self._send_notice_here(channel, job)

    async def _send_notice_here(
        self, channel: discord.abc.Messageable, job: Job
    ) -> discord.Message:
        view = notice_view(job) if job.state is not JobState.CANCELLED else discord.utils.MISSING
        try:
            async with self.writer.post(_channel_id(channel)):
                return await channel.send(
                    content=f"<@{job.user_id}>",
                    embed=notice_embed(job),
                    view=view,
                    # cast: as in _send_result, None (no reply) is what send() defaults to.
                    reference=cast(discord.MessageReference, self._reference(channel, job)),
                    allowed_mentions=_USERS_ONLY,
                    nonce=_nonce(job, DeliveryKind.NOTICE),
                )
        except discord.HTTPException as exc:
            raise _as_delivery_failure(exc) from None

    async def post_status(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        files: Sequence[discord.File],
        *,
        reply_to: int | None = None,
    ) -> discord.Message:
        """Post a job's status message (in its turn with the channel's writer), in the server's
        language, as a reply to message ``reply_to`` of the same channel when given (without it
        if that one is gone)."""
        reference = (
            None
            if reply_to is None
            else discord.MessageReference(
                message_id=reply_to, channel_id=_channel_id(channel), fail_if_not_exists=False
            )
        )
        with using_locale(self.locale_of(job)):
            async with self.writer.post(_channel_id(channel)):
                return await channel.send(
                    embed=status_embed(job, eta=self.bot.engine.eta(job)),
                    files=list(files),
                    # cast: send()'s overloads omit None, which its implementation defaults to.
                    view=cast(discord.ui.View, status_view(job)),
                    reference=cast(discord.MessageReference, reference),
                    allowed_mentions=discord.AllowedMentions.none(),
                )

    async def job_changed(self, job: Job) -> None:
        """Queue a status edit with the channel's writer; never waits for Discord."""
        self.status.job_changed(job)

    async def close(self) -> None:
        await self.writer.close()

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
        """A reply to the status message, in its own channel only (not in a direct message)."""
        if job.status_message_id is None or job.channel_id != _channel_id(channel):
            return None
        return discord.MessageReference(
            message_id=job.status_message_id, channel_id=job.channel_id, fail_if_not_exists=False
        )

    async def _upload_limit(self, job: Job, channel: discord.abc.Messageable) -> int:
        """The server's real upload limit. Right after a restart a channel fetched by id sits
        in a placeholder guild marked unavailable (boost tier 0): ask Discord for the guild."""
        guild = getattr(channel, "guild", None)
        if guild is not None and not guild.unavailable:
            limit: int = guild.filesize_limit
            return limit
        if job.guild_id is None:
            return _DM_UPLOAD_LIMIT
        cached = self._guild_limits.get(job.guild_id)
        if cached is not None and time.monotonic() - cached[0] < _GUILD_LIMIT_TTL:
            return cached[1]
        try:
            fetched = await self.bot.fetch_guild(job.guild_id)
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"could not look up the server: {exc}") from None
        self._guild_limits[job.guild_id] = (time.monotonic(), fetched.filesize_limit)
        return fetched.filesize_limit


class ChannelGone(Exception):
    """The job's channel was deleted or the bot lost access: post to the member directly."""


def _channel_id(channel: discord.abc.Messageable) -> int:
    value = getattr(channel, "id", 0)
    return value if isinstance(value, int) else 0


def _missing_permissions(exc: discord.HTTPException) -> bool:
    """403 Missing Permissions (50013): on an upload, most often no Attach Files here."""
    return isinstance(exc, discord.Forbidden) and exc.code == 50013


def _nonce(job: Job, kind: DeliveryKind) -> str:
    return f"wan{job.id}{kind.value[0]}"[:25]


def _utc(timestamp: float) -> datetime:
    """A moment safely before the job's first post (a minute of clock skew allowed)."""
    return datetime.fromtimestamp(timestamp - 60, UTC)


def _as_delivery_failure(exc: discord.HTTPException) -> DeliveryFailed:
    permanent = isinstance(exc, discord.Forbidden | discord.NotFound)
    return DeliveryFailed(f"Discord answered {exc.status}: {exc.text}", permanent=permanent)
