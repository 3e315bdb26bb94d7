"""Provider clients: one interface (:mod:`bot.providers.base`), one module per provider.

:class:`Providers` builds the clients of one process on one shared :class:`aiohttp.ClientSession`,
each with its own key, and only when a model that needs it is used: an operator who serves
wan2.2-i2v-flash from MuleRouter never needs a Vtrix key.
"""

from __future__ import annotations

import aiohttp

from bot.catalog import ModelSpec
from bot.config import ProviderName, Settings
from bot.providers.base import GenerationProvider, PollResult, TaskFailure, TaskState
from bot.providers.http import ProviderHTTP, RetryPolicy
from bot.providers.mulerouter import MuleRouterClient
from bot.providers.vtrix import VtrixClient

__all__ = [
    "GenerationProvider",
    "PollResult",
    "Providers",
    "RetryPolicy",
    "TaskFailure",
    "TaskState",
]

_CLIENTS = {ProviderName.MULEROUTER: MuleRouterClient, ProviderName.VTRIX: VtrixClient}


class Providers:
    """The provider clients of one process, sharing one HTTP session."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        *,
        create_retry: RetryPolicy | None = None,
        poll_retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._session = session
        self._create_retry = create_retry
        self._poll_retry = poll_retry
        self._clients: dict[ProviderName, GenerationProvider] = {}

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
            )
            client = self._clients[name] = _CLIENTS[name](http)
        return client

    def requests_sent(self) -> int:
        """Requests sent upstream so far, all providers (for benchmarks and metrics)."""
        return sum(client.http.requests_sent for client in self._clients.values())  # type: ignore[attr-defined]
