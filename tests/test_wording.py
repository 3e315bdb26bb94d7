"""One table of state words and one clock, for every front end."""

from __future__ import annotations

import pytest

from bot.jobs.states import JobState
from bot.wording import STATE_WORDS, clock


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
