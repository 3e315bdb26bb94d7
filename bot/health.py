"""``GET /healthz`` and ``GET /readyz`` on the bot's HTTP server.

Why this module exists: a process supervisor (Docker's health check, Kubernetes' probes, an
uptime monitor) needs two answers the logs cannot give it. ``/healthz`` says the process is
alive: it answers 200 whenever the event loop runs the handler at all. ``/readyz`` says the bot
can do its work: 200 only when every named check passes (the bot passes: the Discord gateway
is connected, the database takes a write, the job scheduler's and the outbox's loops are
running), otherwise 503 with a JSON body naming what is not ready, e.g.
``{"status": "not ready", "not_ready": ["gateway"], "checks": {...}}``.

The checks are handed in by whoever composes the bot (:mod:`bot.discord_ui.client`), so this
module knows nothing of Discord or SQLite. A check may be a plain function or a coroutine
function returning whether it passes; one that raises, or takes longer than ``timeout``
seconds, has not passed. Checks run concurrently.

What it must never do: import discord.py, do work beyond the checks themselves, or log on every
probe (only when the set of failing checks changes).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
CHECK_TIMEOUT_SECONDS = 2.0

Check = Callable[[], bool | Awaitable[bool]]


class HealthChecks:
    """Named readiness checks and the two routes that report them."""

    def __init__(
        self, checks: Mapping[str, Check], *, timeout: float = CHECK_TIMEOUT_SECONDS
    ) -> None:
        self._checks = dict(checks)
        self._timeout = timeout
        self._failing: list[str] = []

    def __repr__(self) -> str:
        return f"HealthChecks({sorted(self._checks)})"

    async def _passes(self, name: str, check: Check) -> bool:
        try:
            result = check()
            if inspect.isawaitable(result):
                async with asyncio.timeout(self._timeout):  # not wait_for: see bot.jobs.wakeup
                    return bool(await result)
            return bool(result)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            log.debug("readiness check %s took longer than %.1fs", name, self._timeout)
            return False
        except Exception as exc:
            log.debug("readiness check %s failed: %s", name, exc)
            return False

    async def results(self) -> dict[str, bool]:
        """Every check's result now, by name."""
        names = list(self._checks)
        passed = await asyncio.gather(*(self._passes(n, self._checks[n]) for n in names))
        return dict(zip(names, passed, strict=True))

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        results = await self.results()
        failing = [name for name, ok in results.items() if not ok]
        if failing != self._failing:
            if failing:
                log.warning("not ready: %s", ", ".join(failing))
            else:
                log.info("ready again")
            self._failing = failing
        checks = {name: "ok" if ok else "not ready" for name, ok in results.items()}
        if failing:
            body = {"status": "not ready", "not_ready": failing, "checks": checks}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ready", "checks": checks})

    def routes(self) -> list[web.RouteDef]:
        return [web.get(HEALTH_PATH, self._healthz), web.get(READY_PATH, self._readyz)]
