"""Trust in a provider's webhooks: earned by an arriving event, lost by misses in a row."""

from __future__ import annotations

import logging

import pytest

from bot.config import ProviderName
from bot.jobs.pushed import PushedEvents

MULE, VTRIX = ProviderName.MULEROUTER, ProviderName.VTRIX


def test_not_relied_on_until_an_event_arrives() -> None:
    pushed = PushedEvents({MULE}, miss_limit=3)
    assert not pushed.relied_on(MULE)
    pushed.heard(MULE)
    assert pushed.relied_on(MULE)


def test_a_provider_without_webhooks_is_never_relied_on() -> None:
    pushed = PushedEvents({MULE})
    pushed.heard(VTRIX)
    pushed.pushed_completion(VTRIX)
    assert not pushed.relied_on(VTRIX)
    assert not PushedEvents(()).relied_on(MULE)


def test_misses_in_a_row_lose_the_trust_and_a_pushed_completion_restores_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pushed = PushedEvents({MULE}, miss_limit=3)
    pushed.heard(MULE)
    pushed.polled_completion(MULE)
    pushed.polled_completion(MULE)
    pushed.pushed_completion(MULE)  # the count starts again
    pushed.polled_completion(MULE)
    pushed.polled_completion(MULE)
    assert pushed.relied_on(MULE)
    with caplog.at_level(logging.WARNING, logger="bot.jobs.pushed"):
        pushed.polled_completion(MULE)
    assert not pushed.relied_on(MULE)
    assert "3 tasks of mulerouter in a row finished without their webhook" in caplog.text
    pushed.heard(MULE)  # a task.created is not a completion: still not relied on
    assert not pushed.relied_on(MULE)
    pushed.pushed_completion(MULE)
    assert pushed.relied_on(MULE)


def test_with_every_event_dropped_nothing_is_ever_relied_on() -> None:
    pushed = PushedEvents({MULE})
    for _ in range(10):
        pushed.polled_completion(MULE)
        assert not pushed.relied_on(MULE)
