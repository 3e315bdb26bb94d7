"""The bot's one small HTTP server (aiohttp's own ``web``): webhooks, health checks, metrics.

Why this module exists: providers push events to a URL, and operators probe ``/healthz`` and
``/readyz`` and scrape ``/metrics``; one server on ``WANBOT_HTTP_HOST``:``WANBOT_HTTP_PORT``
serves them all. Whoever has routes registers them with :meth:`HttpServer.add_routes` before
:meth:`start` (the Discord client does, from :func:`bot.webhooks.webhook_routes`,
:mod:`bot.health` and :mod:`bot.metrics`), so a new family of routes is a module and one call,
not a change here. The bot always registers the health and metrics routes, so it listens
whenever ``WANBOT_HTTP_PORT`` is not ``off``; a server given no route at all does not listen.
Every body is capped at ``max_body_bytes`` (1 MiB): a longer one gets 413 before it is read.

What it must never do: import discord.py, do slow work in a handler (handlers answer and hand
work to the engine), or fail at start with a traceback: a port in use or an address that is
not this machine's is one line naming the setting (:class:`HttpServerError`).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterable

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# In-flight requests get this long to finish when the server stops.
SHUTDOWN_SECONDS = 2.0


class HttpServerError(RuntimeError):
    """The server could not listen. ``str()`` is one line naming the setting to change."""


class HttpServer:
    """Routes registered up front, then one listening site on (host, port)."""

    def __init__(self, host: str, port: int, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.host = host
        self.requested_port = port
        self._max_body = max_body_bytes
        self._routes: list[web.RouteDef] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "not listening"
        return f"HttpServer({where}, {len(self._routes)} routes)"

    def add_routes(self, routes: Iterable[web.RouteDef]) -> None:
        """Serve ``routes`` too (before :meth:`start`)."""
        if self._runner is not None:
            raise RuntimeError("routes are added before the HTTP server starts")
        self._routes.extend(routes)

    @property
    def listening(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the OS when 0 was asked for)."""
        if self._port is None:
            raise RuntimeError("the HTTP server is not listening")
        return self._port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen, if any route was registered; :class:`HttpServerError` when it cannot."""
        if self._runner is not None:
            raise RuntimeError("the HTTP server is already running")
        if not self._routes:
            log.info("HTTP server not started: nothing to serve")
            return
        app = web.Application(client_max_size=self._max_body)
        app.add_routes(self._routes)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.requested_port).start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpServerError(self._explain(exc)) from None
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        paths = ", ".join(sorted({route.path for route in self._routes if hasattr(route, "path")}))
        log.info("HTTP server listening on %s (%s)", self.url, paths)

    def _explain(self, exc: OSError) -> str:
        where = f"{self.host}:{self.requested_port}"
        if exc.errno == errno.EADDRINUSE:
            return (
                f"WANBOT_HTTP_PORT {self.requested_port} is already in use on {self.host}: "
                "stop what holds it, choose another port, or set WANBOT_HTTP_PORT=off"
            )
        if isinstance(exc, socket.gaierror) or exc.errno in (
            errno.EADDRNOTAVAIL,
            errno.EAFNOSUPPORT,
        ):
            return (
                f"WANBOT_HTTP_HOST {self.host!r} is not an address this machine can listen on "
                "(use 127.0.0.1, 0.0.0.0 or one of its own addresses)"
            )
        if exc.errno == errno.EACCES:
            return (
                f"WANBOT_HTTP_PORT {self.requested_port} needs privileges this process lacks "
                "(use a port above 1023)"
            )
        return (
            f"the HTTP server cannot listen on {where} ({exc.strerror or exc}); check "
            "WANBOT_HTTP_HOST and WANBOT_HTTP_PORT"
        )

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            log.info("HTTP server stopped")
