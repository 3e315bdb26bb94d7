"""One table of state words and one clock, for every front end."""

from __future__ import annotations

import pytest

from bot.jobs.states import JobState
from bot.wording import STATE_WORDS, clock, retry_words
from tests.records import make_job


def test_every_state_has_words() -> None:
    assert set(STATE_WORDS) == set(JobState)
    shorts = [words.short for words in STATE_WORDS.values()]
    assert len(set(shorts)) == len(shorts), "two states read the same in lists"
    assert STATE_WORDS[JobState.SUBMITTING].with_emoji == "📤 Sending to the provider"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (5.9, "0:05"), (125, "2:05"), (3600, "60:00"), (-3, "0:00")]
)
def test_clock(seconds: float, text: str) -> None:
    assert clock(seconds) == text


def test_retry_words_only_while_a_refused_create_waits() -> None:
    waiting = make_job(
        state=JobState.CREATED,
        submit_attempts=1,
        error_code="provider_unreachable",
        error_message="could not connect",
    )
    assert retry_words(waiting) == "Provider unreachable, retrying (attempt 2)"
    assert retry_words(make_job(state=JobState.CREATED, submit_attempts=0)) is None
    assert retry_words(make_job(state=JobState.RUNNING, error_message="old")) is None
    unknown_code = make_job(state=JobState.CREATED, submit_attempts=1, error_message="x")
    assert retry_words(unknown_code) == "Provider not answering, retrying (attempt 2)"
