"""Provider clients: one interface (:mod:`bot.providers.base`), one module per provider.

:class:`Providers` builds the clients of one process on one shared :class:`aiohttp.ClientSession`,
each with its own key, and only when a model that needs it is used: an operator who serves
wan2.2-i2v-flash from MuleRouter never needs a Vtrix key.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from bot.catalog import ModelSpec
from bot.config import ProviderName, Settings
from bot.providers import mulerouter, vtrix
from bot.providers.base import GenerationProvider, PollResult, TaskFailure, TaskState
from bot.providers.http import ProviderHTTP, RetryPolicy
from bot.providers.mulerouter import MuleRouterClient
from bot.providers.vtrix import VtrixClient
from bot.telemetry import NO_TELEMETRY, Telemetry

__all__ = [
    "GenerationProvider",
    "PollResult",
    "Providers",
    "RetryPolicy",
    "TaskFailure",
    "TaskState",
    "create_path",
    "poll_path",
]

# Exhaustive by provider (a test checks every ProviderName has an entry): a new provider gets
# its own client and routes, never another's by falling through a switch.
_CLIENTS: dict[ProviderName, type[MuleRouterClient] | type[VtrixClient]] = {
    ProviderName.MULEROUTER: MuleRouterClient,
    ProviderName.VTRIX: VtrixClient,
}


class _Routes(Protocol):
    """What a provider module offers: where its tasks are created and read."""

    def create_path(self, spec: ModelSpec) -> str: ...

    def poll_path(self, spec: ModelSpec, task_id: str) -> str: ...


_ROUTES: dict[ProviderName, _Routes] = {
    ProviderName.MULEROUTER: mulerouter,
    ProviderName.VTRIX: vtrix,
}


def create_path(spec: ModelSpec) -> str:
    """Where a task of ``spec`` is created, on the provider that serves it."""
    return _ROUTES[spec.provider].create_path(spec)


def poll_path(spec: ModelSpec, task_id: str) -> str:
    """Where task ``task_id`` of ``spec`` is read."""
    return _ROUTES[spec.provider].poll_path(spec, task_id)


class Providers:
    """The provider clients of one process, sharing one HTTP session."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        *,
        create_retry: RetryPolicy | None = None,
        poll_retry: RetryPolicy | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._settings = settings
        self._session = session
        self._create_retry = create_retry
        self._poll_retry = poll_retry
        self._telemetry = telemetry
        self._clients: dict[ProviderName, MuleRouterClient | VtrixClient] = {}

    def for_spec(self, spec: ModelSpec) -> GenerationProvider:
        """The client serving ``spec``; :class:`~bot.config.ConfigError` if its key is unset."""
        return self.get(spec.provider)

    def get(self, name: ProviderName) -> GenerationProvider:
        client = self._clients.get(name)
        if client is None:
            http = ProviderHTTP(
                self._session,
                provider=name,
                base_url=self._settings.base_url(name),
                api_key=self._settings.api_key(name),
                timeout=self._settings.http_timeout,
                create_retry=self._create_retry,
                poll_retry=self._poll_retry,
                telemetry=self._telemetry,
            )
            client = self._clients[name] = _CLIENTS[name](http)
        return client

    def requests_sent(self) -> int:
        """Requests sent upstream so far, all providers (for benchmarks and metrics)."""
        return sum(client.http.requests_sent for client in self._clients.values())
