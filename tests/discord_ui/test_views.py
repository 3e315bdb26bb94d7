"""The component rows under the bot's messages, built from real Job records.

The custom ids are a promise to messages already in channels: these tests pin their shape and
check that every id a view emits is matched by exactly one registered button handler.
"""

from __future__ import annotations

import re
from typing import Any

import discord
import pytest

from bot.discord_ui.buttons import DYNAMIC_ITEMS
from bot.discord_ui.views import (
    MAX_ANIMATE_BUTTONS,
    Action,
    custom_id,
    notice_view,
    result_view,
    status_view,
)
from bot.jobs.states import GENERATING_STATES, WAITING_STATES, JobState
from tests.records import make_job


def buttons(view: discord.ui.View | None) -> list[discord.ui.Button[Any]]:
    assert view is not None
    return [item for item in view.children if isinstance(item, discord.ui.Button)]


def handler_for(custom: str) -> type:
    matches = [
        item for item in DYNAMIC_ITEMS if item.__discord_ui_compiled_template__.fullmatch(custom)
    ]  # type: ignore[attr-defined]
    assert len(matches) == 1, f"{custom!r} is matched by {matches}"
    return matches[0]


def test_custom_ids_keep_their_shipped_shape() -> None:
    assert custom_id(Action.CANCEL, 12) == "wan:cancel:12"
    assert custom_id(Action.RETRY, 12) == "wan:retry:12"
    assert custom_id(Action.VARY, 12) == "wan:vary:12"
    assert custom_id(Action.DELETE, 12) == "wan:delete:12"
    assert custom_id(Action.ANIMATE, 12, 3) == "wan:animate:12:3"
    assert custom_id(Action.EXTEND, 12) == "wan:extend:12"


@pytest.mark.parametrize("state", sorted(JobState))
def test_status_view_offers_cancel_only_while_generating_or_waiting(state: JobState) -> None:
    view = status_view(make_job(state=state))
    if state in GENERATING_STATES | WAITING_STATES:
        [cancel] = buttons(view)
        assert (cancel.label, cancel.custom_id) == ("Cancel", "wan:cancel:12")
        assert cancel.style is discord.ButtonStyle.danger
    else:
        assert view is None


def test_video_result_has_retry_vary_delete_extend_and_links_when_too_large() -> None:
    job = make_job(state=JobState.DELIVERED, result_urls=("https://cdn.example/v.mp4",))
    plain = buttons(result_view(job, image_count=1))
    assert [(b.label, b.custom_id, b.row) for b in plain] == [
        ("Retry", "wan:retry:12", 0),
        ("Vary", "wan:vary:12", 0),
        ("Delete", "wan:delete:12", 0),
        ("Extend", "wan:extend:12", 1),
    ]
    linked = buttons(result_view(job, image_count=1, links=job.result_urls))
    assert [(b.label, b.url, b.row) for b in linked[4:]] == [
        ("Download 1", "https://cdn.example/v.mp4", 2)
    ]


def test_image_result_animates_each_image_up_to_four() -> None:
    job = make_job(unit="image", model_id="wan2.5-i2i-preview", state=JobState.DELIVERED)
    animate = [b for b in buttons(result_view(job, image_count=6)) if b.label.startswith("Animate")]
    assert [b.custom_id for b in animate] == [
        f"wan:animate:12:{index}" for index in range(MAX_ANIMATE_BUTTONS)
    ]
    assert [b.label for b in animate] == ["Animate 1", "Animate 2", "Animate 3", "Animate 4"]
    assert {b.row for b in animate} == {1}
    assert not any(b.label == "Extend" for b in buttons(result_view(job, image_count=6)))


def test_notice_view_offers_retry() -> None:
    [retry] = buttons(notice_view(make_job(state=JobState.FAILED)))
    assert retry.custom_id == "wan:retry:12"


def test_every_id_a_view_emits_has_exactly_one_handler() -> None:
    job = make_job(unit="image", state=JobState.DELIVERED)
    video = make_job(state=JobState.DELIVERED)
    emitted = [
        b.custom_id
        for view in (
            status_view(make_job()),
            result_view(job, 4),
            result_view(video, 1),
            notice_view(job),
        )
        for b in buttons(view)
        if b.custom_id is not None
    ]
    handlers = {custom: handler_for(custom).__name__ for custom in emitted}
    assert handlers == {
        "wan:cancel:12": "CancelButton",
        "wan:retry:12": "RetryButton",
        "wan:vary:12": "VaryButton",
        "wan:delete:12": "DeleteButton",
        **{f"wan:animate:12:{i}": "AnimateButton" for i in range(4)},
        "wan:extend:12": "ExtendButton",
    }
    assert not any(re.fullmatch(r"wan:x:\d+", custom) for custom in emitted)
