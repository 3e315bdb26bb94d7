"""Counting Discord's 429 answers by route, for the metrics.

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

What it must never do: change how a request is sent or retried, or put anything of a raw URL
in a label.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from discord.http import HTTPClient, Route

OTHER_ROUTE = "other"

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

    def watch(self, http: HTTPClient) -> None:
        """Note each request's route while ``http`` sends it (``http`` was built with
        ``http_trace=self.trace``)."""
        send = http.request

        @functools.wraps(send)
        async def request(route: Route, **kwargs: Any) -> Any:
            token = _route.set(route_label(route))
            try:
                return await send(route, **kwargs)
            finally:
                _route.reset(token)

        # An instance attribute in front of the method: discord.py calls self.request(...).
        setattr(http, "request", request)  # noqa: B010
