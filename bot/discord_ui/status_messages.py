"""Keeping each job's public status message current, without ever waiting for Discord.

Why this module exists: the job engine tells the deliverer about every state and progress change,
and the refresh loop re-shows running jobs so elapsed time and ETA move. Deciding which of those
deserve an edit (state changes and a queued job's retries at once, progress-only changes at
most every ``edit_interval`` seconds), rendering it, and remembering status messages that were
deleted is this module's job; sending is the
:class:`~bot.discord_ui.channel_writer.ChannelWriter`'s, which paces edits per channel and keeps
only the latest state of each message.

What it must never do: await Discord in :meth:`StatusMessages.job_changed` (it is called from
the engine's scheduler), or edit a message Discord said is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot.discord_ui.channel_writer import ChannelWriter, Clock
from bot.discord_ui.embeds import status_embed
from bot.discord_ui.views import status_view
from bot.i18n import using_locale
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.wording import queue_words, retry_words

log = logging.getLogger(__name__)

EditStatus = Callable[[Job, discord.Embed, discord.ui.View | None], Awaitable[None]]
"""Edits the job's status message to show this embed and view (raises discord errors)."""
ChannelOf = Callable[[Job], Awaitable[discord.abc.Messageable]]
MessageGone = Callable[[int], Awaitable[None] | None]
"""Called with the job id, once, when the job's status message turned out to be deleted."""

# The messageable channels that can hand out a PartialMessage for an edit by id.
_PARTIAL_MESSAGE_CHANNELS = (
    discord.TextChannel,
    discord.VoiceChannel,
    discord.StageChannel,
    discord.Thread,
    discord.DMChannel,
    discord.PartialMessageable,
)


def partial_message_editor(channel_of: ChannelOf) -> EditStatus:
    """The real :data:`EditStatus`: look the channel up, edit the message by id (no fetch)."""

    async def edit(job: Job, embed: discord.Embed, view: discord.ui.View | None) -> None:
        assert job.status_message_id is not None
        channel = await channel_of(job)
        # Messageable does not declare get_partial_message; every channel a bot can be in
        # does (only group DMs lack it, and bots cannot join those).
        assert isinstance(channel, _PARTIAL_MESSAGE_CHANNELS)
        await channel.get_partial_message(job.status_message_id).edit(embed=embed, view=view)

    return edit


_Shown = tuple[JobState, str | None]


def _shown(job: Job) -> _Shown:
    """What a status message says beyond progress and time: a change of it is edited at once
    (a job's "retrying (attempt N)" is one, though its state stays ``created``; so is a
    queued job's place)."""
    return job.state, retry_words(job) or queue_words(job)


class StatusMessages:
    """Decides, renders and hands over status-message edits; remembers deleted messages."""

    def __init__(
        self,
        writer: ChannelWriter,
        *,
        edit: EditStatus,
        eta: Callable[[Job], float | None],
        edit_interval: float,
        clock: Clock = time.monotonic,
        on_message_gone: MessageGone | None = None,
        locale_of: Callable[[Job], str | None] = lambda job: None,
    ) -> None:
        self.writer = writer
        self._edit = edit
        self._eta = eta
        # Least time between two edits of one status message that change nothing but the
        # progress, elapsed time or ETA (state changes are shown at once).
        self.edit_interval = edit_interval
        self._clock = clock
        # Set by whoever persists it (the store): called with the job id of a deleted message.
        self.on_message_gone = on_message_gone
        # The language a job's status message speaks (its server's; None: English).
        self._locale_of = locale_of
        # job id -> when it was last edited, and what it showed then (see _shown).
        self._last_edit: dict[int, tuple[float, _Shown]] = {}
        self._gone: dict[int, int] = {}  # job id -> its status message id Discord called unknown

    def job_changed(self, job: Job) -> None:
        """Queue an edit of the job's status message: at once on a state change, else at most
        every ``edit_interval`` seconds. Returns at once; never awaits Discord."""
        message_id, channel_id = job.status_message_id, job.channel_id
        if message_id is None or channel_id is None:
            return
        if self._gone.get(job.id) == message_id:
            if job.state.final:
                del self._gone[job.id]  # nothing will ask about this job again
            return
        now = self._clock()
        last, shown = self._last_edit.get(job.id), _shown(job)
        if last is not None and last[1] == shown and now - last[0] < self.edit_interval:
            return
        self._last_edit[job.id] = (now, shown)
        if job.state.final:
            self._last_edit.pop(job.id, None)

        async def send() -> None:
            # Rendered when sent, not when queued: elapsed time and ETA are current then.
            with using_locale(self._locale_of(job)):
                embed, view = status_embed(job, eta=self._eta(job)), status_view(job)
            await self._edit(job, embed, view)

        self.writer.submit_edit(
            channel_id, message_id, send, on_gone=lambda: self._message_gone(job.id, message_id)
        )

    def is_gone(self, job: Job) -> bool:
        """Whether Discord said this job's current status message no longer exists."""
        return job.status_message_id is not None and self._gone.get(job.id) == job.status_message_id

    def _message_gone(self, job_id: int, message_id: int) -> Awaitable[None] | None:
        log.info("job %d: status message %d was deleted; no longer edited", job_id, message_id)
        self._gone[job_id] = message_id
        self._last_edit.pop(job_id, None)
        if self.on_message_gone is None:
            return None
        return self.on_message_gone(job_id)
