"""Waiting for the emulator's state to change: one notifier every mutation pokes.

Why this module exists: tests wait for "a message in #general", "the first callback", "a
RESUME"; rather than polling, every change notifies and waiters re-check their predicate.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from tests.waiting import wait_until

T = TypeVar("T")


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self, check: Callable[[], T | None], timeout: float, what: str = "condition"
    ) -> T:
        """Return ``check()``'s first truthy value, looking again at every change (and at
        least every 0.25 s); :class:`~tests.waiting.WaitTimeout` (a ``TimeoutError``) naming
        ``what`` after ``timeout`` seconds."""
        value = await wait_until(
            check, timeout=timeout, interval=0.25, message=what, wake=self._next_change
        )
        return cast(T, value)  # truthy, so not None

    def _next_change(self) -> Awaitable[bool]:
        """Waits for the next :meth:`notify`. Takes the current event now, not when awaited:
        a notify in between replaces it, and must still end the wait."""
        return self._event.wait()
