"""Every documented answer shape of both providers, read into one PollResult."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.catalog import ResultKind
from bot.providers import TaskState, mulerouter, vtrix
from bot.providers.errors import (
    AuthenticationFailed,
    Forbidden,
    InsufficientBalance,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    RequestRefused,
    TaskNotFound,
)
from bot.providers.http import classify, error_detail, parse_retry_after

TASK = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def _mr(status: str, **extra: object) -> dict[str, object]:
    info = {
        "id": TASK,
        "status": status,
        "created_at": "2026-09-21T08:23:12.657134+00:00",
        "updated_at": "2026-09-21T08:23:12Z",
    }
    return {"task_info": info, **extra}


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", TaskState.PENDING),
        ("queued", TaskState.PENDING),
        ("processing", TaskState.RUNNING),
        ("running", TaskState.RUNNING),
        ("retrying", TaskState.RUNNING),
        ("PROCESSING", TaskState.RUNNING),
        ("warming_up", TaskState.RUNNING),  # unknown words mean "not finished"
    ],
)
def test_mulerouter_unfinished_words(word: str, state: TaskState) -> None:
    result = mulerouter.parse_task(_mr(word), ResultKind.VIDEO)
    assert result.state is state
    assert result.raw_status == word
    assert result.result_urls == ()
    assert result.progress is None
    assert result.billed_cost is None


@pytest.mark.parametrize(
    ("stamp", "started_at"),
    [
        ("2026-09-21T08:23:12Z", 1789978992.0),
        ("2026-09-21T08:23:12.5+00:00", 1789978992.5),
        ("2026-09-21T10:23:12+02:00", 1789978992.0),
        ("2026-09-21T08:23:12", 1789978992.0),  # naive: UTC
        ("yesterday", None),
        (17, None),
    ],
)
def test_mulerouter_processing_says_when_the_work_started(
    stamp: object, started_at: float | None
) -> None:
    body = _mr("processing")
    body["task_info"]["updated_at"] = stamp  # type: ignore[index]
    assert mulerouter.parse_task(body, ResultKind.VIDEO).started_at == started_at
    # While pending, nothing has started, whatever the stamp says.
    assert mulerouter.parse_task(_mr("pending"), ResultKind.VIDEO).started_at is None


@pytest.mark.parametrize("word", ["completed", "succeeded"])
def test_mulerouter_success_words_videos(word: str) -> None:
    body = _mr(word, videos=["https://cdn.example/v.mp4"])
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.state is TaskState.SUCCEEDED
    assert result.result_urls == ("https://cdn.example/v.mp4",)
    assert result.billed_cost is None  # MuleRouter reports no cost


def test_mulerouter_images_read_from_images_key() -> None:
    body = _mr("completed", images=["https://c/0.png", "https://c/1.png"])
    result = mulerouter.parse_task(body, ResultKind.IMAGES)
    assert result.result_urls == ("https://c/0.png", "https://c/1.png")


def test_mulerouter_completed_without_results_keeps_waiting() -> None:
    result = mulerouter.parse_task(_mr("completed"), ResultKind.VIDEO)
    assert result.state is TaskState.RUNNING


def test_mulerouter_error_inside_task_info() -> None:
    body = _mr("failed")
    body["task_info"]["error"] = {
        "code": 3001,
        "title": "Task Execution Error",  # type: ignore[index]
        "detail": "Invalid image dimensions",
    }
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.state is TaskState.FAILED
    assert result.failure is not None
    assert (result.failure.code, result.failure.title, result.failure.detail) == (
        "3001",
        "Task Execution Error",
        "Invalid image dimensions",
    )
    assert "Invalid image dimensions" in result.failure.user_message()


def test_mulerouter_error_at_top_level_with_error_code() -> None:
    body = _mr(
        "failed",
        error={
            "error_code": 3005,
            "title": "External service execution failed",
            "detail": "prompt violation",
        },
    )
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.failure is not None
    assert result.failure.code == "3005"
    assert result.failure.is_content_refusal
    assert "rewording" in result.failure.user_message()


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", TaskState.PENDING),
        ("processing", TaskState.RUNNING),
        ("in_progress", TaskState.RUNNING),
        ("mystery", TaskState.RUNNING),
    ],
)
def test_vtrix_unfinished_words_and_progress(word: str, state: TaskState) -> None:
    result = vtrix.parse_task({"id": "t1", "status": word, "progress": 0.4, "created_at": 1})
    assert result.state is state
    assert result.progress == pytest.approx(0.4)


def test_vtrix_progress_in_percent_is_scaled_and_clamped() -> None:
    assert vtrix.parse_task({"status": "processing", "progress": 55}).progress == 0.55
    assert vtrix.parse_task({"status": "processing", "progress": -3}).progress == 0.0
    assert vtrix.parse_task({"status": "processing", "progress": "x"}).progress is None


def test_vtrix_completed_reads_urls_and_string_cost_exactly() -> None:
    body = {
        "id": "t1",
        "status": "completed",
        "progress": 1,
        "output": [
            {"content": [{"type": "video", "url": "https://v/1.mp4", "duration": 5, "jobId": "j"}]}
        ],
        "usage": {"cost": "0.14", "discount": 0},
    }
    result = vtrix.parse_task(body)
    assert result.state is TaskState.SUCCEEDED
    assert result.result_urls == ("https://v/1.mp4",)
    assert result.billed_cost == Decimal("0.14")
    assert isinstance(result.billed_cost, Decimal)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.14", Decimal("0.14")),
        (0.1, Decimal("0.1")),
        (2, Decimal(2)),
        ("abc", None),
        (None, None),
        (True, None),
        ("-1", None),
        ("NaN", None),
    ],
)
def test_vtrix_cost_parsing(raw: object, expected: Decimal | None) -> None:
    assert vtrix.parse_cost(raw) == expected


def test_vtrix_failed_reads_code_and_message() -> None:
    result = vtrix.parse_task(
        {"id": "t", "status": "failed", "error": {"code": "InternalError", "message": "boom"}}
    )
    assert result.state is TaskState.FAILED
    assert result.failure is not None
    assert (result.failure.code, result.failure.detail) == ("InternalError", "boom")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "a"}, "a"),
        ({"task_id": "b"}, "b"),
        ({"data": {"id": "c"}}, "c"),
        ({"id": 42}, "42"),
        ({"status": "pending"}, None),
    ],
)
def test_vtrix_task_id_locations(body: dict[str, object], expected: str | None) -> None:
    assert vtrix.task_id_from(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": "bad size"}, "bad size"),
        ({"error": "nope"}, "nope"),
        ({"message": "msg"}, "msg"),
        ({"error": {"code": "x", "message": "nested message"}}, "nested message"),
        (
            {
                "task_info": {
                    "status": "failed",
                    "error": {
                        "code": 2001,
                        "title": "Invalid Request",
                        "detail": "prompt too long",
                    },
                }
            },
            "prompt too long",
        ),
        ({"task_info": {"error": {"title": "Only title"}}}, "Only title"),
        ("not a dict", "fallback"),
        ({}, "fallback"),
    ],
)
def test_error_detail_reads_every_documented_location(body: object, expected: str) -> None:
    assert error_detail(body, "fallback") == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (402, InsufficientBalance),
        (403, Forbidden),
        (404, TaskNotFound),
        (409, RequestRefused),
        (423, RequestRefused),
        (429, RateLimited),
        (451, RequestRefused),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
    ],
)
def test_http_status_classification(status: int, kind: type) -> None:
    error = classify(status, {"detail": "why"}, provider="mulerouter", on_create=False)
    assert type(error) is kind
    assert error.detail == "why"
    assert error.user_message


def test_invalid_request_passes_provider_words_to_member() -> None:
    error = classify(400, {"detail": "size 1*1 unsupported"}, provider="m", on_create=True)
    assert "size 1*1 unsupported" in error.user_message


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- answers of the wrong shape: read as "not finished / unreadable", never as a success -------

LINK = "https://cdn.example/v.mp4"


@pytest.mark.parametrize(
    "videos",
    [
        LINK,  # a string where a list is documented: never 25 one-character links
        {"url": LINK},
        [LINK, 7],
        [LINK, None],
        [LINK, ""],
        [{"url": LINK}],
        [[LINK]],
        ["javascript:alert(1)"],
        ["file:///etc/passwd"],
        ["ftp://cdn.example/v.mp4"],
        ["/relative/v.mp4"],
        ["https://"],
        ["https://cdn.example/a b.mp4"],
        ["https://cdn.example/v.mp4\n"],
        ["https://cdn.example/\u202ev.mp4"],
        ["https://cdn.example:99999999/v.mp4"],
        ["https://cdn.example/" + "a" * 10_000],
        [LINK] * 1000,
        True,
        17,
    ],
)
def test_mulerouter_result_list_of_the_wrong_shape_is_not_a_success(videos: object) -> None:
    result = mulerouter.parse_task(_mr("completed", videos=videos), ResultKind.VIDEO)
    assert result.state is TaskState.RUNNING
    assert result.result_urls == ()
    assert result.unreadable is not None
    assert len(result.unreadable) <= 400  # a clipped excerpt, never the whole body


def test_mulerouter_http_and_https_links_are_taken_as_sent() -> None:
    links = ["http://127.0.0.1:8765/media/v.mp4?sig=a%2Fb&x=1", "HTTPS://CDN.example/0.png"]
    result = mulerouter.parse_task(_mr("completed", images=links), ResultKind.IMAGES)
    assert result.state is TaskState.SUCCEEDED
    assert result.result_urls == tuple(links)
    assert result.unreadable is None


@pytest.mark.parametrize("status", [["completed"], {"word": "completed"}, 3, 2.5, True, "x" * 5000])
def test_mulerouter_status_of_the_wrong_shape_means_not_finished(status: object) -> None:
    body = _mr("completed", videos=[LINK])
    body["task_info"]["status"] = status  # type: ignore[index]
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.state is TaskState.RUNNING
    assert result.result_urls == ()
    assert len(result.raw_status) <= 64


@pytest.mark.parametrize("task_info", ["completed", ["completed"], 5])
def test_mulerouter_task_info_of_the_wrong_shape_is_unreadable(task_info: object) -> None:
    result = mulerouter.parse_task({"task_info": task_info, "videos": [LINK]}, ResultKind.VIDEO)
    assert result.state is TaskState.RUNNING
    assert result.unreadable is not None


def test_mulerouter_failure_text_is_clipped_and_printable() -> None:
    body = _mr("failed")
    body["task_info"]["error"] = {  # type: ignore[index]
        "code": {"nested": [1, 2, 3]},
        "title": ["Task", "Execution"],
        "detail": "bad\x00 \x1b[31mimage\u202e\ud800 " + "z" * 100_000,
    }
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.state is TaskState.FAILED
    assert result.failure is not None
    assert result.failure.code == ""
    assert result.failure.title == ""
    detail = result.failure.detail
    assert detail.startswith("bad [31mimage ")
    assert len(detail) <= 300
    detail.encode("utf-8")  # no lone surrogate reaches SQLite or Discord
    assert len(result.failure.user_message()) < 400


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1969-01-01T00:00:00Z", "x" * 999],
)
def test_mulerouter_absurd_started_at_is_dropped(stamp: str) -> None:
    body = _mr("processing")
    body["task_info"]["updated_at"] = stamp  # type: ignore[index]
    result = mulerouter.parse_task(body, ResultKind.VIDEO)
    assert result.state is TaskState.RUNNING
    assert result.started_at is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3c90c3cc-0d44-4b50-8888-8dd25736052a", "3c90c3cc-0d44-4b50-8888-8dd25736052a"),
        (42, "42"),
        ("task_01:a.b", "task_01:a.b"),
        (True, None),
        (-1, None),
        (4.5, None),
        ("", None),
        ("..", None),
        ("../../v1/other", None),
        ("a/b", None),
        ("a?b=1", None),
        ("a b", None),
        ("ab\n", None),
        ("é", None),
        ("a" * 129, None),
        ({"id": "a"}, None),
        (["a"], None),
        (None, None),
    ],
)
def test_mulerouter_task_id_is_used_only_when_it_is_a_safe_path_part(
    raw: object, expected: str | None
) -> None:
    assert mulerouter.task_id_from({"task_info": {"id": raw, "status": "pending"}}) == expected


def test_mulerouter_task_id_needs_a_task_info_object() -> None:
    assert mulerouter.task_id_from({"task_info": "abc"}) is None
    assert mulerouter.task_id_from({"id": "abc"}) is None


@pytest.mark.parametrize(
    "output",
    [
        "https://v/1.mp4",
        {"content": [{"url": "https://v/1.mp4"}]},
        [{"content": "https://v/1.mp4"}],
        [{"content": [{"url": ["https://v/1.mp4"]}]}],
        [{"content": [{"type": "video", "url": "data:video/mp4;base64,AAAA"}]}],
        [{"content": [{"type": 5, "url": "https://v/1.mp4"}]}],
        ["https://v/1.mp4"],
        [{"content": [{"type": "video", "url": "https://v/1.mp4"}, "junk"]}],
    ],
)
def test_vtrix_output_of_the_wrong_shape_is_not_a_success(output: object) -> None:
    result = vtrix.parse_task({"id": "t", "status": "completed", "output": output})
    assert result.state is TaskState.RUNNING
    assert result.result_urls == ()
    assert result.unreadable is not None


def test_vtrix_takes_only_the_content_of_the_result_kind() -> None:
    content = [
        {"type": "image", "url": "https://v/cover.jpg"},
        {"type": "video", "url": "https://v/1.mp4"},
    ]
    result = vtrix.parse_task({"status": "completed", "output": [{"content": content}]})
    assert result.result_urls == ("https://v/1.mp4",)


@pytest.mark.parametrize(
    "raw",
    ["1e999", "Infinity", "-0.5", "1_000", "0x10", "9" * 40, "10001", 1e308, float("nan"), -2, [1]],
)
def test_vtrix_absurd_costs_are_unreadable_not_billed(raw: object) -> None:
    body = {
        "status": "completed",
        "output": [{"content": [{"type": "video", "url": "https://v/1.mp4"}]}],
        "usage": {"cost": raw},
    }
    result = vtrix.parse_task(body)
    assert result.state is TaskState.SUCCEEDED
    assert result.billed_cost is None
    assert result.unreadable_cost is not None
    assert len(result.unreadable_cost) <= 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" 0.14 ", Decimal("0.14")), (0.14, Decimal("0.14")), ("0", Decimal(0)), (-0.0, Decimal(0))],
)
def test_vtrix_plain_costs_are_read_exactly(raw: object, expected: Decimal) -> None:
    assert vtrix.parse_cost(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(float("nan"), None), (float("inf"), None), ("0.5", 0.5), ("55", 0.55), (10**400, None)],
)
def test_vtrix_progress_of_odd_types(raw: object, expected: float | None) -> None:
    assert vtrix.parse_progress(raw) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": True}, None),
        ({"id": "../x", "data": {"id": "c"}}, "c"),
        ({"id": {"x": 1}, "task_id": "b"}, "b"),
        ({"id": "a" * 500}, None),
    ],
)
def test_vtrix_task_id_must_be_safe(body: dict[str, object], expected: str | None) -> None:
    assert vtrix.task_id_from(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "x" * 100_000},
        {"error": {"message": "a\x00b\u202ec\ud800"}},
        {"message": ["not", "text"], "error": {"title": "T"}},
    ],
)
def test_error_detail_is_clipped_and_printable(body: object) -> None:
    detail = error_detail(body, "fallback")
    assert len(detail) <= 300
    detail.encode("utf-8")
    assert not any(ord(ch) < 32 or 0x202A <= ord(ch) <= 0x202E for ch in detail)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "Wed, 21 Oct 99999 07:28:00 GMT"])
def test_retry_after_that_is_not_a_number_of_seconds_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_is_capped_at_a_day() -> None:
    assert parse_retry_after("99999999") == 86400.0
