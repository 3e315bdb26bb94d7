"""What members read: status, result and notice embeds built from real Job records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.discord_ui.embeds import (
    charge_sentence,
    marker,
    notice_embed,
    result_embed,
    settings_text,
    status_embed,
)
from bot.jobs.states import JobState
from tests.discord_ui.markup import active_markup, visible
from tests.records import NOW, make_job


def fields(embed: object) -> dict[str, str]:
    return {field.name: field.value for field in embed.fields}  # type: ignore[attr-defined]


def test_marker_names_the_job_and_the_kind_of_post() -> None:
    assert marker(12, "result") == "wanbot job #12 · result"


def test_status_embed_while_running() -> None:
    embed = status_embed(make_job(progress=0.4), eta=65.0, now=NOW)
    values = fields(embed)
    assert embed.title == "Wan 2.2 text to video (Plus)"
    assert embed.description.startswith("> a cat surfing")
    assert len(embed.description) <= 302  # an excerpt, not the whole prompt
    assert values["Requested by"] == "<@42>"
    assert values["State"] == "🎨 Generating · 40%"
    assert values["Elapsed"] == "1:15"
    assert values["ETA"] == "about 1:05"
    assert values["Cost"] == "$0.10 (estimated)"
    assert embed.footer.text == "wanbot job #12 · status"


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("provider_unreachable", "⏳ Provider unreachable, retrying (attempt 3)…"),
        ("provider_unavailable", "⏳ Provider unavailable, retrying (attempt 3)…"),
        ("provider_busy", "⏳ Provider busy, retrying (attempt 3)…"),
    ],
)
def test_status_embed_of_a_create_waiting_to_be_retried(code: str, state: str) -> None:
    job = make_job(
        state=JobState.CREATED,
        task_id=None,
        submitted_at=None,
        submit_attempts=2,
        error_code=code,
        error_message="mulerouter ProviderUnavailable: could not connect",
    )
    assert fields(status_embed(job, eta=None, now=NOW))["State"] == state
    never_sent = make_job(state=JobState.CREATED, task_id=None, submit_attempts=0)
    assert fields(status_embed(never_sent, eta=None, now=NOW))["State"] == "⏳ Starting"


def test_status_embed_when_done_has_no_eta_and_stops_the_clock() -> None:
    job = make_job(state=JobState.DELIVERED, finished_at=NOW - 15, billed_cost=Decimal("0.14"))
    values = fields(status_embed(job, eta=None, now=NOW))
    assert values["State"] == "✅ Done"
    assert values["Elapsed"] == "1:00"
    assert "ETA" not in values
    assert values["Cost"] == "$0.14 (billed)"


def test_settings_leave_out_prompts_and_media() -> None:
    job = make_job(
        model_id="wan2.5-i2i-preview",
        price_tier="image",
        unit="image",
        units=Decimal(2),
        request={
            "prompt": "x",
            "negative_prompt": "y",
            "images": ["input:" + "a" * 64, "input:" + "b" * 64],
            "size": "1280*1280",
            "n": 2,
            "prompt_extend": False,
        },
    )
    assert settings_text(job) == "images: 2\nsize: 1280*1280\nn: 2\nprompt extend: off"


def test_result_embed_links_note_and_seed() -> None:
    embed = result_embed(make_job(state=JobState.DELIVERING), linked=True)
    values = fields(embed)
    assert values["Seed"] == "5"
    assert values["Duration"] == "5 s"
    assert "24 hours" in values["Download"]
    assert embed.footer.text == "wanbot job #12 · result"


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"state": JobState.FAILED, "task_id": None, "submitted_at": None}, "Nothing was charged."),
        (
            {"state": JobState.TIMED_OUT, "task_id": None, "submitted_at": None},
            "Nothing was charged.",
        ),
        (
            {"state": JobState.TIMED_OUT},
            "The estimate ($0.10) stays counted against your budget, because the provider may have "
            "accepted and billed it. Server staff can release it with `/wanbot release job:12`.",
        ),
        (
            {"state": JobState.TIMED_OUT, "hold_released_at": 5.0},
            "Server staff released the estimate ($0.10): nothing is counted.",
        ),
        ({"state": JobState.CANCELLED, "submitted_at": None}, "Nothing was charged."),
        (
            {"state": JobState.CANCELLED},
            "It was already running at the provider, which still bills it: $0.10 (estimated) was "
            "charged.",
        ),
        (
            {"state": JobState.SUBMISSION_UNKNOWN},
            "The estimate ($0.10) stays counted against your budget, because the provider may have "
            "accepted and billed it. Server staff can release it with `/wanbot release job:12`.",
        ),
        (
            {"state": JobState.FAILED, "error_code": "delivery_failed"},
            "The generation itself succeeded and was charged ($0.10 (estimated)).",
        ),
    ],
)
def test_charge_sentence(changes: dict[str, object], sentence: str) -> None:
    assert charge_sentence(make_job(**changes)) == sentence


def test_notice_embed_carries_the_reason_and_the_charge() -> None:
    job = make_job(
        state=JobState.FAILED,
        error_code="3005",
        error_message="The provider refused the content (prompt violation).",
    )
    embed = notice_embed(job)
    values = fields(embed)
    assert embed.title == "The generation failed · Wan 2.2 text to video (Plus)"
    assert values["Why"] == "The provider refused the content (prompt violation)."
    assert values["Cost"] == "Nothing was charged."
    assert embed.footer.text == "wanbot job #12 · notice"


# --- members' text is shown, never rendered -----------------------------------------------------

HOSTILE_PROMPT = (
    "# Free [nitro](https://evil.example/claim) @everyone <@123456789012345678> ||now|| "
    "<t:1800000000:R> **bold** `tick"
)


def _quoted(embed: object) -> str:
    description = embed.description  # type: ignore[attr-defined]
    assert description.startswith("> ")
    return str(description.removeprefix("> "))


@pytest.mark.parametrize(
    "build",
    [
        lambda job: status_embed(job, eta=None, now=NOW),
        lambda job: result_embed(job, linked=False),
        lambda job: notice_embed(job),
    ],
    ids=["status", "result", "notice"],
)
def test_a_prompt_is_quoted_as_words(build: Any) -> None:
    hostile = make_job(state=JobState.FAILED, request={"prompt": HOSTILE_PROMPT, "seed": 5})
    quoted = _quoted(build(hostile))
    assert active_markup(quoted) == []
    assert visible(quoted) == HOSTILE_PROMPT
    # Ordinary punctuation gains nothing.
    ordinary = make_job(state=JobState.FAILED, request={"prompt": "a cat, 4k, (masterpiece)!"})
    assert build(ordinary).description == "> a cat, 4k, (masterpiece)!"


def test_a_long_prompt_of_markup_still_fits_the_excerpt() -> None:
    job = make_job(request={"prompt": "**[x](https://e.example)** " * 200})
    description = status_embed(job, eta=None, now=NOW).description
    assert description is not None
    assert len(description) <= 302
    assert description.endswith("…")
    assert active_markup(_quoted(status_embed(job, eta=None, now=NOW))) == []


def test_a_reason_that_echoes_the_prompt_is_escaped() -> None:
    reason = "Prompt '[win](https://evil.example)' refused for @here"
    job = make_job(state=JobState.FAILED, error_code="3005", error_message=reason)
    why = fields(notice_embed(job))["Why"]
    assert active_markup(why) == []
    assert visible(why) == reason
