"""/usage and /jobs: the lines members and staff read (spend, held estimates, results that
could not be posted), and the links to jump to a job."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bot.jobs.records import UsageRow
from bot.jobs.states import JobState
from cogs.jobs import jump_url, no_result_text, state_text, undelivered, undelivered_text
from cogs.usage import MAX_HELD_LISTED, held_line, totals, usage_lines
from tests.records import NOW, make_job

ROWS = [
    UsageRow(
        key="wan2.6-i2v",
        jobs=3,
        charged_jobs=2,
        video_seconds=Decimal("15.0"),
        images=Decimal(0),
        estimated=Decimal("1.5"),
        billed=Decimal(0),
    ),
    UsageRow(
        key="wan2.5-i2i-preview",
        jobs=1,
        charged_jobs=1,
        video_seconds=Decimal(0),
        images=Decimal(2),
        estimated=Decimal(0),
        billed=Decimal("0.06"),
    ),
    UsageRow(
        key="wan2.2-t2v-plus",
        jobs=1,
        charged_jobs=0,
        video_seconds=Decimal(0),
        images=Decimal(0),
        estimated=Decimal(0),
        billed=Decimal(0),
    ),
]


def test_usage_lines_say_what_was_made_and_keep_estimated_and_billed_apart() -> None:
    assert usage_lines(ROWS) == [
        "**wan2.6-i2v**: 3 job(s), 15 s of video; $1.50 estimated, $0.00 billed",
        "**wan2.5-i2i-preview**: 1 job(s), 2 images; $0.00 estimated, $0.06 billed",
        "**wan2.2-t2v-plus**: 1 job(s), nothing made; $0.00 estimated, $0.00 billed",
    ]


def test_totals_are_exact() -> None:
    assert totals(ROWS) == (5, Decimal("1.5"), Decimal("0.06"))
    assert totals([]) == (0, Decimal(0), Decimal(0))


def test_jump_url_prefers_the_result_then_the_status_message() -> None:
    running = make_job()
    assert jump_url(7, running) == "https://discord.com/channels/7/8/9"
    delivered = dataclasses.replace(
        running, state=JobState.DELIVERED, delivered_message_ids=(31, 32)
    )
    assert jump_url(7, delivered) == "https://discord.com/channels/7/8/31"
    assert jump_url(7, dataclasses.replace(running, status_message_id=None)) is None
    assert jump_url(7, dataclasses.replace(running, channel_id=None)) is None


# ---------------------------------------------------------------------------------------------
# Held estimates in /usage, and what /jobs show says of jobs without a posted result
# ---------------------------------------------------------------------------------------------

HELD = make_job(state=JobState.SUBMISSION_UNKNOWN, finished_at=NOW, error_code="submission_unknown")


def test_held_line_is_absent_when_nothing_is_held() -> None:
    assert held_line([], staff=False) is None
    assert held_line([], staff=True) is None


def test_held_line_for_a_member_counts_and_says_who_can_release() -> None:
    assert held_line([HELD], staff=False) == (
        "Held: $0.10 for 1 job whose outcome is unknown (staff can release it with "
        "/wanbot release)."
    )
    two = [dataclasses.replace(HELD, id=15, estimated_cost=Decimal("0.4")), HELD]
    assert held_line(two, staff=False) == (
        "Held: $0.50 for 2 jobs whose outcome is unknown (staff can release them with "
        "/wanbot release)."
    )


def test_held_line_for_staff_lists_each_job_with_member_and_amount() -> None:
    other = dataclasses.replace(HELD, id=15, user_id=43, estimated_cost=Decimal("0.014"))
    assert held_line([other, HELD], staff=True) == (
        "Held: $0.114 for 2 jobs whose outcome is unknown (release with /wanbot release "
        "job:<id>): #15 (<@43>, $0.014), #12 (<@42>, $0.10)."
    )


def test_held_line_for_staff_counts_what_it_does_not_list() -> None:
    many = [dataclasses.replace(HELD, id=100 + n) for n in range(MAX_HELD_LISTED + 3)]
    line = held_line(many, staff=True)
    assert line is not None
    assert line.startswith(f"Held: $2.30 for {MAX_HELD_LISTED + 3} jobs whose outcome is unknown")
    assert f"#{100 + MAX_HELD_LISTED - 1} (<@42>, $0.10) and 3 more." in line
    assert f"#{100 + MAX_HELD_LISTED} " not in line
    assert len(line) < 1500


def test_state_text_says_when_the_estimate_is_held() -> None:
    assert state_text(HELD) == "not confirmed, estimate held"
    assert state_text(dataclasses.replace(HELD, hold_released_at=NOW + 5)) == "not confirmed"
    assert state_text(make_job()) == "generating"


def test_no_result_text_adds_the_charge_for_jobs_that_ended() -> None:
    assert no_result_text(make_job()) == "Job #12 has no result to show (generating)."
    assert no_result_text(HELD) == (
        "Job #12 has no result to show (not confirmed, estimate held). The estimate ($0.10) "
        "stays counted against your budget, because the provider may have accepted and billed "
        "it. Server staff can release it with `/wanbot release job:12`."
    )


UNPOSTED = make_job(
    state=JobState.FAILED,
    error_code="delivery_failed",
    finished_at=NOW,
    result_urls=("https://cdn.example/a.png", "https://cdn.example/b.png"),
)


def test_undelivered_needs_a_failed_post_with_links_kept() -> None:
    assert undelivered(UNPOSTED)
    assert not undelivered(dataclasses.replace(UNPOSTED, result_urls=()))
    assert not undelivered(dataclasses.replace(UNPOSTED, error_code="ProviderError"))
    assert not undelivered(dataclasses.replace(UNPOSTED, state=JobState.DELIVERED))


def test_undelivered_text_gives_the_links_and_when_they_expire() -> None:
    assert undelivered_text(UNPOSTED, now=NOW + 100, ttl=86_400) == (
        "Job #12 was made but could not be posted. Download it while the links last: they "
        f"expire <t:{int(NOW) + 86_400}:R>, about a day after it finished.\n"
        "[Download 1](https://cdn.example/a.png)\n"
        "[Download 2](https://cdn.example/b.png)\n"
        "The generation itself succeeded and was charged ($0.10 (estimated))."
    )


def test_undelivered_text_shows_no_dead_links() -> None:
    text = undelivered_text(UNPOSTED, now=NOW + 86_400, ttl=86_400)
    assert text == (
        "Job #12 was made but could not be posted. Its download links expired "
        f"<t:{int(NOW) + 86_400}:R> (about a day after it finished), so the result can't be "
        "fetched any more; run the command again to make it anew.\n"
        "The generation itself succeeded and was charged ($0.10 (estimated))."
    )
    assert "cdn.example" not in text
