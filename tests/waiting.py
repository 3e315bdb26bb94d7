"""Waiting until something holds: the one polling loop every test and test helper uses.

Why this module exists: tests wait for a job to reach a state, a request to reach the
simulator, a message to appear in the emulator. Each of those waits is the same loop (look,
give up after a timeout, pause, look again), and a wait that gives up must say what it waited
for and what it saw last, so that the failure explains itself.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A wait ran out of time. A test failure (``AssertionError``); also a ``TimeoutError``,
    which the emulator's waits have always raised and its callers may catch."""


async def wait_until(
    predicate: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str],
    done: Callable[[T], object] = bool,
    wake: Callable[[], Awaitable[Any]] | None = None,
) -> T:
    """Call ``predicate`` (sync or async) until its value is done; return that value.

    Done means truthy, or ``done(value)`` is true when ``done`` is given (then the predicate
    may return the thing itself, e.g. a job, and the failure shows it). ``predicate`` is called
    at least once, then every ``interval`` seconds; with ``wake`` (e.g. an event's ``wait``),
    the pause ends early when ``wake()`` returns. After ``timeout`` seconds this raises
    :class:`WaitTimeout` with ``message`` (called then, if it is a callable: it may describe
    the state at that moment) and the last value seen.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        seen = cast(T, value)
        if done(seen):
            return seen
        remaining = deadline - loop.time()
        if remaining <= 0:
            what = message() if callable(message) else message
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what}; last seen: {seen!r}"
            )
        pause = min(interval, remaining)
        if wake is None:
            await asyncio.sleep(pause)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake(), pause)
