"""Runs the simulator on a loopback port: ``SimulatorServer(config)``, ``start``, ``stop``.

Why this module exists: tests, benchmarks and the CLI all need "a fake MuleRouter and Vtrix at
this base URL"; this wraps aiohttp's runner so that is two lines, or one ``async with``. It also
runs the webhook sender (:mod:`bot.simulator.webhooks`) for as long as the server runs.
"""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from bot.simulator.app import build_app
from bot.simulator.config import SimulatorConfig
from bot.simulator.state import SimulatorState
from bot.simulator.webhooks import WebhookSender

# In-flight handlers (a scripted slow answer) get this long to finish when the server stops.
_SHUTDOWN_SECONDS = 1.0


class SimulatorServer:
    """Both providers, their media and the ``/_sim/`` control API behind one base URL.

    ``state`` exists before ``start`` so faults can be queued ahead of the first request.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.state = SimulatorState(config)
        self._runner: web.AppRunner | None = None
        self._webhooks: WebhookSender | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        # handler_cancellation: a client that gives up cancels its request, as upstream would
        # never finish handling it; "slow before create" then really creates nothing.
        runner = web.AppRunner(
            build_app(self.state),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_SECONDS,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        self.state.base_url = f"http://{_url_host(bound_host)}:{bound_port}"
        self._runner = runner
        self._webhooks = WebhookSender(self.state)  # sends only while webhook_url is set
        await self._webhooks.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the base URL of both providers and of the media."""
        if self._runner is None:
            raise RuntimeError("the simulator is not running")
        return self.state.base_url

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    async def stop(self) -> None:
        if self._webhooks is not None:
            sender, self._webhooks = self._webhooks, None
            await sender.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SimulatorServer:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
