"""Counting Discord's 429 answers by route, for the metrics; and keeping this process to its
share of the bot's global request rate.

Why this module exists: discord.py handles Discord's rate limits inside its ``HTTPClient``
(it sleeps and retries, and only logs a line), so no exception reaches the bot for most 429s.
Two public seams see every one: the ``http_trace`` option of ``discord.Client`` (an
:class:`aiohttp.TraceConfig` on discord.py's own session, told of every answer) and
``HTTPClient.request(route, …)``, which knows the templated route (``POST
/channels/{channel_id}/messages``). :class:`RateLimitCounter` wraps the second to note the
route in a context variable for the duration of the request, and its trace reads it back when
an answer is 429, so the count is labelled with the template, never with the raw URL (which
carries channel ids and interaction tokens). Requests discord.py makes outside
``HTTPClient.request`` (interaction responses go through its webhook adapter) count as
``other``.

Discord allows a bot 50 requests a second in all (its global limit, per token), however many
processes share the token; discord.py only learns of it from a global 429. :class:`RequestLimiter`
is a token bucket every ``HTTPClient.request`` call waits on first (``watch(http, limiter=...)``),
at ``50 * share`` a second with a second's worth as burst. ``share`` is this process's part of
the deployment, set from outside (``set_share(1 / live_processes)``); 1.0 by default, so one
process may use the whole 50 as before. Waiters go in the order they came. Interaction responses
(discord.py's webhook adapter, not ``HTTPClient.request``) do not wait: Discord exempts them from
the global limit. One token is taken per call, before discord.py's own per-route wait; the
retries discord.py makes inside that call (after a 429 or a 5xx) are its own business.

What it must never do: change how a request is sent or retried, or put anything of a raw URL
in a label.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from discord.http import HTTPClient, Route

OTHER_ROUTE = "other"
# Discord's global limit: requests a second per bot token, shared by all of its processes.
GLOBAL_REQUESTS_PER_SECOND = 50.0
# A token short by less than this is a token: the clock's rounding must not make a waiter
# sleep for nothing, again and again.
_ROUNDING = 1e-9

_route: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wanbot_discord_route", default=None
)


def route_label(route: Route) -> str:
    """The templated route of a request, e.g. ``POST /channels/{channel_id}/messages``."""
    return f"{route.method} {route.path}"


class RateLimitCounter:
    """Calls ``on_429(route)`` for every 429 answer discord.py receives."""

    def __init__(self, on_429: Callable[[str], None]) -> None:
        self._on_429 = on_429
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_request_end)

    async def _on_request_end(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if params.response.status == 429:
            self._on_429(_route.get() or OTHER_ROUTE)

    def watch(self, http: HTTPClient, *, limiter: RequestLimiter | None = None) -> None:
        """Note each request's route while ``http`` sends it (``http`` was built with
        ``http_trace=self.trace``); with ``limiter``, each request first waits for its token."""
        send = http.request

        @functools.wraps(send)
        async def request(route: Route, **kwargs: Any) -> Any:
            if limiter is not None:
                await limiter.acquire()
            token = _route.set(route_label(route))
            try:
                return await send(route, **kwargs)
            finally:
                _route.reset(token)

        # An instance attribute in front of the method: discord.py calls self.request(...).
        setattr(http, "request", request)  # noqa: B010


class RequestLimiter:
    """A token bucket at ``rate * share`` requests a second, bursting a second's worth; FIFO.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float = GLOBAL_REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self._full_rate = rate
        self._share = 1.0
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._turn = asyncio.Lock()  # FIFO: the first to wait is the first served

    def __repr__(self) -> str:
        return f"RequestLimiter(rate={self.rate:g}/s, share={self._share:g})"

    @property
    def share(self) -> float:
        """This process's fraction of the bot's global rate."""
        return self._share

    @property
    def rate(self) -> float:
        """Requests a second this process may make."""
        return self._full_rate * self._share

    @property
    def capacity(self) -> float:
        """The burst: a second's worth, at least one request."""
        return max(self.rate, 1.0)

    def set_share(self, share: float) -> None:
        """Keep to ``share`` (0 < share <= 1) of the global rate from now on, e.g.
        ``1 / live_processes``. Tokens already earned are kept, up to the new burst."""
        if not (math.isfinite(share) and 0.0 < share <= 1.0):
            raise ValueError(f"share must be within (0, 1], not {share!r}")
        self._refill()
        self._share = share
        self._tokens = min(self._tokens, self.capacity)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Wait for a token and take it."""
        async with self._turn:
            while True:
                self._refill()
                if self._tokens >= 1.0 - _ROUNDING:
                    self._tokens = max(self._tokens - 1.0, 0.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)
