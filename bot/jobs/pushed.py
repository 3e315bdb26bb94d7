"""Whether a provider's pushed events (webhooks) are arriving, so polling can step back.

Why this module exists: with webhooks a finished task is known within a second, and polling is
only the safety net for an event that never came. But webhooks fail silently (a console setting
changed, a proxy in the way, the provider's sender down): an engine that trusted them blindly
would see every result minutes late, at its sparse safety-net looks. So trust is earned and
lost from what actually happens, per provider:

* relied on once any verified event from the provider arrived since start (``task.created``
  comes within a second of the first create), and
* no longer relied on after ``miss_limit`` completions in a row that polling found first (the
  event never came); relied on again when a completion is pushed again.

While a provider's webhooks are not relied on, its jobs are polled on the usual plan, so with
every webhook dropped the engine behaves exactly as with webhooks off.

What it must never do: rely on a provider whose webhooks this bot does not receive, or block:
it is plain bookkeeping on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.config import ProviderName

log = logging.getLogger(__name__)


class PushedEvents:
    """Per-provider trust in pushed events, from arrivals and misses."""

    def __init__(self, providers: Iterable[ProviderName], *, miss_limit: int = 3) -> None:
        self._providers = frozenset(providers)
        self._miss_limit = max(miss_limit, 1)
        self._heard: set[ProviderName] = set()
        self._misses: dict[ProviderName, int] = {}

    def __repr__(self) -> str:
        relied = sorted(p.value for p in self._providers if self.relied_on(p))
        return f"PushedEvents(relied_on={relied})"

    def relied_on(self, provider: ProviderName) -> bool:
        """Whether ``provider``'s webhooks stand in for polls right now."""
        return (
            provider in self._providers
            and provider in self._heard
            and self._misses.get(provider, 0) < self._miss_limit
        )

    def heard(self, provider: ProviderName) -> None:
        """A verified event from ``provider`` arrived (any type, any task)."""
        if provider in self._providers and provider not in self._heard:
            self._heard.add(provider)
            log.info("webhooks from %s arrive: polling its tasks only as a safety net", provider)

    def pushed_completion(self, provider: ProviderName) -> None:
        """A task of ``provider`` was reported finished by a pushed event."""
        if provider not in self._providers:
            return
        was = self.relied_on(provider)
        self._heard.add(provider)
        self._misses[provider] = 0
        if not was:
            log.info("webhooks from %s arrive again: polling only as a safety net", provider)

    def polled_completion(self, provider: ProviderName) -> None:
        """A task of ``provider`` was found finished by a poll: its event did not come first."""
        if provider not in self._providers:
            return
        was = self.relied_on(provider)
        self._misses[provider] = self._misses.get(provider, 0) + 1
        if was and not self.relied_on(provider):
            log.warning(
                "%d tasks of %s in a row finished without their webhook arriving: polling them "
                "as usual until webhooks arrive again (check the webhook URL and secret in the "
                "provider's console)",
                self._miss_limit,
                provider,
            )
