"""One writer per Discord channel: status edits paced inside the channel's rate limit, posts first.

Why this module exists: Discord allows about five writes per channel per five seconds. With fifty
jobs running in one channel, the status refresh used to burst fifty edits at once; Discord
answered with 429s, discord.py slept them off inside the awaited edit, and because the job
engine awaited those edits inside its scheduler slots, provider polling stopped and results
queued behind status edits (issue #10). The writer decouples the two: a status edit is handed
over (:meth:`ChannelWriter.submit_edit`) and sent later by the channel's worker, at the window's
pace, only the latest state of each message; a result or notice post
(:meth:`ChannelWriter.post`) waits for a slot ahead of every pending edit.

What it must never do: make a caller of :meth:`~ChannelWriter.submit_edit` wait for Discord
(the scheduler must never stall behind a status message), keep more than one pending edit per
message, let a pending edit take a slot while a post is waiting, send more writes in a channel
than its window allows, or retry a failed edit beyond a 429 (edits are best effort; the next
refresh brings a fresh state). It never sends anything itself: callers pass the coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import discord

from bot.log_context import detached

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]
"""Makes the edit when called (e.g. ``lambda: partial.edit(embed=...)``)."""
GoneHook = Callable[[], Awaitable[None] | None]
"""Called once when Discord says the edited message (or its channel) no longer exists."""
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_WRITES = 5
DEFAULT_PER_SECONDS = 5.0
DEFAULT_SEND_TIMEOUT = 30.0
# An edit answered with 429 is queued again (unless a newer one replaced it) this many times
# in all; any other failure drops it at once.
MAX_EDIT_ATTEMPTS = 3
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
_GONE_CODES = frozenset({UNKNOWN_CHANNEL, UNKNOWN_MESSAGE})
_IN_FLIGHT_POLL = 0.05  # seconds between looks while every slot is taken by a write in flight


class _Window:
    """A sliding window: at most ``writes`` writes in any ``per`` seconds, plus a back-off.

    A write counts from when it starts until ``per`` seconds after it *finished*: a request
    may sit in the HTTP client for a while before Discord sees it, so the start time alone
    could let six arrive within five seconds. Finished-at is never earlier than arrival.
    """

    def __init__(self, writes: int, per: float) -> None:
        self.writes = writes
        self.per = per
        self.times: deque[float] = deque(maxlen=writes)  # when the last writes finished
        self.in_flight = 0
        self.blocked_until = float("-inf")

    def wait_time(self, now: float, *, keep_free: int = 0) -> float:
        """Seconds until a write may go (0 when it may go now), leaving ``keep_free`` of the
        window's writes unused (edits keep one free, so a result seldom waits at all)."""
        delay = self.blocked_until - now
        recent = sorted(t for t in self.times if t > now - self.per)
        excess = self.in_flight + len(recent) - (self.writes - keep_free) + 1
        if excess > len(recent):
            delay = max(delay, _IN_FLIGHT_POLL)  # the window is full of writes still going
        elif excess > 0:
            delay = max(delay, recent[excess - 1] + self.per - now)
        return max(delay, 0.0)

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self.times.append(now)

    def push_back(self, now: float, seconds: float) -> None:
        self.blocked_until = max(self.blocked_until, now + seconds)


@dataclass(slots=True)
class _Edit:
    send: Send
    on_gone: GoneHook | None
    attempts: int = 0


@dataclass(slots=True)
class _Channel:
    window: _Window
    # Insertion-ordered: a message whose edit is replaced keeps its place in line, so one busy
    # message cannot starve the others nor jump ahead of them.
    pending: dict[int, _Edit] = field(default_factory=dict)
    post_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    posts_waiting: int = 0
    posts_idle: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.posts_idle.set()


class ChannelWriter:
    """Paces writes per channel: ``writes`` per ``per`` seconds (Discord's default: 5 per 5 s)."""

    def __init__(
        self,
        *,
        writes: int = DEFAULT_WRITES,
        per: float = DEFAULT_PER_SECONDS,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
    ) -> None:
        if writes < 1 or per <= 0:
            raise ValueError("a channel needs room for at least one write per window")
        self.writes = writes
        self.per = per
        # Edits leave one write of each window free, so a result or notice seldom waits.
        self._kept_for_posts = 1 if writes > 1 else 0
        self._clock = clock
        self._sleep = sleep
        self._send_timeout = send_timeout
        self._channels: dict[int, _Channel] = {}
        self._closed = False

    # --- edits ----------------------------------------------------------------------------------

    def submit_edit(
        self,
        channel_id: int,
        message_id: int,
        send: Send,
        *,
        on_gone: GoneHook | None = None,
    ) -> None:
        """Queue an edit of ``message_id``, replacing any edit of it not yet sent. Returns at
        once; the channel's worker calls ``send`` when the window allows (must be called from
        the event loop). ``on_gone`` is called if Discord says the message no longer exists."""
        if self._closed:
            return
        channel = self._channel(channel_id)
        channel.pending[message_id] = _Edit(send, on_gone)
        if channel.worker is None:
            channel.worker = asyncio.get_running_loop().create_task(
                self._drain(channel_id, channel),
                name=f"channel-writer-{channel_id}",
                context=detached(),  # it writes for every job of the channel, not the first's
            )

    def discard_edit(self, channel_id: int, message_id: int) -> None:
        """Forget the edit of ``message_id`` not yet sent, if any."""
        channel = self._channels.get(channel_id)
        if channel is not None:
            channel.pending.pop(message_id, None)

    def pending_edits(self, channel_id: int) -> int:
        """How many messages of the channel have an edit waiting."""
        channel = self._channels.get(channel_id)
        return 0 if channel is None else len(channel.pending)

    # --- posts ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def post(self, channel_id: int) -> AsyncIterator[None]:
        """``async with writer.post(channel_id): await channel.send(...)``: waits for a slot in
        the channel's window ahead of every pending edit. A 429 raised by the body pushes the
        window back (and is re-raised)."""
        channel = self._channel(channel_id)
        channel.posts_waiting += 1
        channel.posts_idle.clear()
        try:
            async with channel.post_lock:
                while (delay := channel.window.wait_time(self._clock())) > 0:
                    await self._sleep(delay)
                channel.window.start()
        finally:
            channel.posts_waiting -= 1
            if channel.posts_waiting == 0:
                channel.posts_idle.set()
        try:
            yield
        except (discord.HTTPException, discord.RateLimited) as exc:
            if _is_rate_limit(exc):
                channel.window.push_back(self._clock(), _retry_after(exc, self.per))
            raise
        finally:
            channel.window.finish(self._clock())

    # --- shutdown -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop every worker; edits not yet sent are dropped, later ones ignored."""
        self._closed = True
        workers = [c.worker for c in self._channels.values() if c.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for channel in self._channels.values():
            channel.pending.clear()

    # --- the worker -----------------------------------------------------------------------------

    def _channel(self, channel_id: int) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = _Channel(_Window(self.writes, self.per))
        return channel

    async def _drain(self, channel_id: int, channel: _Channel) -> None:
        """Send the channel's pending edits one at a time, oldest first; exit when none is left."""
        try:
            while channel.pending:
                await self._wait_turn(channel)
                if not channel.pending:  # discarded while waiting
                    break
                message_id = next(iter(channel.pending))
                edit = channel.pending.pop(message_id)
                channel.window.start()
                try:
                    await self._send(channel_id, channel, message_id, edit)
                finally:
                    channel.window.finish(self._clock())
        finally:
            channel.worker = None

    async def _wait_turn(self, channel: _Channel) -> None:
        """Until the window has room and no post is waiting for it."""
        while True:
            if channel.posts_waiting:
                await channel.posts_idle.wait()
                continue
            delay = channel.window.wait_time(self._clock(), keep_free=self._kept_for_posts)
            if delay <= 0:
                return
            await self._sleep(delay)

    async def _send(self, channel_id: int, channel: _Channel, message_id: int, edit: _Edit) -> None:
        try:
            if self._send_timeout is None:
                await edit.send()
            else:
                async with asyncio.timeout(self._send_timeout):
                    await edit.send()
        except discord.NotFound as exc:
            if exc.code not in _GONE_CODES:
                log.info(
                    "edit of message %d in channel %d dropped: %s", message_id, channel_id, exc
                )
                return
            log.info("message %d in channel %d is gone; no longer edited", message_id, channel_id)
            await self._call_gone(channel_id, message_id, edit)
        except (discord.HTTPException, discord.RateLimited) as exc:
            if not _is_rate_limit(exc):
                log.info(
                    "edit of message %d in channel %d dropped: %s", message_id, channel_id, exc
                )
                return
            retry_after = _retry_after(exc, self.per)
            channel.window.push_back(self._clock(), retry_after)
            if edit.attempts + 1 < MAX_EDIT_ATTEMPTS and message_id not in channel.pending:
                channel.pending[message_id] = replace(edit, attempts=edit.attempts + 1)
                log.info("channel %d rate limited; edits resume in %.1f s", channel_id, retry_after)
            else:
                log.info(
                    "edit of message %d in channel %d dropped: %s", message_id, channel_id, exc
                )
        except Exception as exc:
            log.info("edit of message %d in channel %d dropped: %r", message_id, channel_id, exc)

    @staticmethod
    async def _call_gone(channel_id: int, message_id: int, edit: _Edit) -> None:
        if edit.on_gone is None:
            return
        try:
            result = edit.on_gone()
            if result is not None:
                await result
        except Exception:
            log.exception("message %d in channel %d: the gone hook failed", message_id, channel_id)


def _is_rate_limit(exc: discord.HTTPException | discord.RateLimited) -> bool:
    return isinstance(exc, discord.RateLimited) or exc.status == 429


def _retry_after(exc: discord.HTTPException | discord.RateLimited, default: float) -> float:
    """Seconds Discord asked us to wait: ``RateLimited.retry_after``, else the 429's
    ``Retry-After`` (or ``X-RateLimit-Reset-After``) header, else ``default``."""
    if isinstance(exc, discord.RateLimited):
        return max(exc.retry_after, 0.0)
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        try:
            return max(float(headers[name]), 0.0)
        except (KeyError, TypeError, ValueError):
            continue
    return default
