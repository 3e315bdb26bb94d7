"""Discord's per-channel message write limit: creates, edits and deletes in one channel share a
bucket (``rules.channel_write_limit = (5, 5.0)``: 5 writes per 5 seconds), and a record of every
write per channel for tests and benchmarks to read.

Why this module exists: a bot that posts and edits many status messages in one channel meets
this limit on real Discord long before any global one. With the rule on, a write beyond the
limit gets Discord's 429 (body ``{"message", "retry_after", "global": false}``, ``Retry-After``,
``X-RateLimit-*`` with ``X-RateLimit-Scope: user``), and every admitted write carries the
bucket's ``X-RateLimit-*`` headers, the three routes with one ``X-RateLimit-Bucket``, so that
discord.py's own bucket handling paces itself as it does against Discord.

Two windows (``rules.channel_write_window``):

* ``"fixed"`` (the default, as Discord): the first write into an idle bucket opens a window of
  ``per`` seconds holding ``limit`` writes; ``X-RateLimit-Reset-After`` is the time to its end,
  when the whole bucket is free again. A client that waits out ``Reset-After`` after
  ``Remaining: 0`` (discord.py does) never sees a 429, but writes at the end of one window and
  the start of the next may put up to ``2 * limit`` inside some ``per``-second span.
* ``"sliding"`` (stricter than Discord): a write is admitted only while fewer than ``limit``
  were admitted in the last ``per`` seconds, so no span ever holds more. ``Reset-After`` is the
  time until the window would be empty as of that answer; a burst paced on it alone can still
  meet a 429 of a few milliseconds, since writes admitted just after that answer are still in
  the window when it ends.

What it must never do: count a write that it answered 429 (Discord does not), or limit any
route but the three channel message writes.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Literal

CHANNEL_WRITE_ROUTES = frozenset(
    {
        "POST /channels/{channel_id}/messages",
        "PATCH /channels/{channel_id}/messages/{message_id}",
        "DELETE /channels/{channel_id}/messages/{message_id}",
    }
)
# One bucket hash for the three routes: discord.py then keys them to one shared bucket.
WRITE_BUCKET = hashlib.sha1(b"channel message writes").hexdigest()[:16]

Window = Literal["fixed", "sliding"]


@dataclass
class ChannelWrites:
    """What one channel's write bucket saw. Times are loop time (``time.monotonic()``)."""

    channel_id: int
    accepted: list[float] = field(default_factory=list)  # writes the limit let through
    limited: list[float] = field(default_factory=list)  # writes answered 429
    # The open fixed window: when it began and how many writes it holds.
    window_start: float | None = None
    window_count: int = 0

    @property
    def rate_limited(self) -> int:
        """How many writes were answered 429."""
        return len(self.limited)

    def max_in_window(self, seconds: float) -> int:
        """The most accepted writes inside any ``seconds``-long span ``[t, t + seconds)``."""
        best = 0
        start = 0
        for end, at in enumerate(self.accepted):
            while at - self.accepted[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def in_window(self, now: float, per: float) -> int:
        """Accepted writes in the ``per`` seconds before ``now``."""
        return len(self.accepted) - bisect.bisect_right(self.accepted, now - per)


@dataclass
class WriteDecision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0

    def body(self) -> dict[str, object]:
        """Discord's 429 body for a per-route (user-scope) limit."""
        return {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": False,
        }


class ChannelWriteLimiter:
    """Every channel's write record, and the admission check when the rule is on."""

    def __init__(self) -> None:
        self.channels: dict[int, ChannelWrites] = {}

    def writes(self, channel_id: int) -> ChannelWrites:
        found = self.channels.get(channel_id)
        if found is None:
            found = self.channels[channel_id] = ChannelWrites(channel_id)
        return found

    def admit(
        self,
        channel_id: int,
        now: float,
        limit: tuple[int, float] | None,
        window: Window = "fixed",
    ) -> WriteDecision | None:
        """Admit (and record) one write, or refuse it. ``None`` when the rule is off: the
        write is recorded and the router's usual headers apply."""
        record = self.writes(channel_id)
        if limit is None:
            record.accepted.append(now)
            return None
        count, per = int(limit[0]), float(limit[1])
        if window == "sliding":
            start = bisect.bisect_right(record.accepted, now - per)
            used = len(record.accepted) - start
            # Refused: one slot frees when the oldest write in the window leaves it.
            free_at = record.accepted[start] + per if used >= count else 0.0
            reset_at = now + per
        else:
            if record.window_start is None or now >= record.window_start + per:
                record.window_start, record.window_count = now, 0
            used = record.window_count
            free_at = reset_at = record.window_start + per
        if used >= count:
            retry = _up(free_at - now)
            record.limited.append(now)
            headers = _headers(count, 0, retry)
            headers["Retry-After"] = str(max(1, math.ceil(retry)))
            headers["X-RateLimit-Scope"] = "user"
            return WriteDecision(False, headers, retry)
        record.accepted.append(now)
        record.window_count += 1
        return WriteDecision(True, _headers(count, count - used - 1, _up(reset_at - now)))


def _up(seconds: float) -> float:
    """Seconds rounded up to the millisecond the headers carry (never early)."""
    return max(0.001, math.ceil(seconds * 1000 - 1e-6) / 1000)  # not 0.301 for 0.3000000001


def _headers(limit: int, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": WRITE_BUCKET,
    }
