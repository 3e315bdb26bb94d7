"""Property tests: whatever JSON a provider sends, the parsers answer a sane PollResult (or a
typed ProviderError), never a success with made-up links and never another exception.

Two kinds of input: arbitrary JSON values (Hypothesis ``recursive``; NaN and infinities included,
since ``json.loads`` accepts them, and lone surrogates, since ``"\\ud800"`` is valid JSON), and the
documented answer shapes with one field replaced by such a value or removed. Bounded and
deterministic: a fixed number of examples, derandomized, no example database.
"""

from __future__ import annotations

import asyncio
import json
import math
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog import ResultKind, spec_for
from bot.config import ProviderName
from bot.providers import PollResult, TaskState, mulerouter, vtrix
from bot.providers.errors import DETAIL_LIMIT, ProviderError, SubmissionOutcomeUnknown
from bot.providers.http import classify, decode_body, error_detail, parse_retry_after
from bot.providers.mulerouter import MuleRouterClient
from bot.providers.vtrix import VtrixClient

BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None)

URL = "https://cdn.example/v.mp4"
INTERESTING_TEXT = st.sampled_from(
    [
        "",
        " ",
        "completed",
        "succeeded",
        "failed",
        "processing",
        "pending",
        "COMPLETED",
        URL,
        "http://127.0.0.1:8765/m/0.png",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "0.14",
        "-1",
        "NaN",
        "1e999",
        "2026-09-21T08:23:12Z",
        "../x",
        "\u202e",
        "\ud800",
        "x" * 5000,
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=()), max_size=30)
    | INTERESTING_TEXT
)
KEY_NAMES = ["task_info", "status", "videos", "images", "error", "id", "output", "content"]
KEY_NAMES += ["url", "type", "usage", "cost", "progress", "detail", "message", "title", "code"]
KEYS = st.sampled_from([*KEY_NAMES, "data"]) | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def mulerouter_shapes() -> list[dict[str, Any]]:
    info = {"id": "t-1", "created_at": "2026-09-21T08:23:12Z", "updated_at": "2026-09-21T08:24Z"}
    return [
        {"task_info": {**info, "status": "pending"}},
        {"task_info": {**info, "status": "processing"}},
        {"task_info": {**info, "status": "completed"}, "videos": [URL]},
        {"task_info": {**info, "status": "completed"}, "images": [URL, URL]},
        {
            "task_info": {
                **info,
                "status": "failed",
                "error": {"code": 3001, "title": "Task Execution Error", "detail": "bad image"},
            }
        },
        {
            "task_info": {**info, "status": "failed"},
            "error": {"error_code": 3005, "title": "External", "detail": "prompt violation"},
        },
    ]


def vtrix_shapes() -> list[dict[str, Any]]:
    return [
        {"id": "t", "status": "processing", "progress": 0.4, "created_at": 1},
        {
            "id": "t",
            "status": "completed",
            "progress": 1,
            "output": [{"content": [{"type": "video", "url": URL, "duration": 5, "jobId": "j"}]}],
            "usage": {"cost": "0.14", "discount": 0},
        },
        {"id": "t", "status": "failed", "error": {"code": "InternalError", "message": "boom"}},
    ]


def paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` a field could be replaced."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, shapes: list[dict[str, Any]]) -> dict[str, Any]:
    """A documented shape with one field replaced by arbitrary JSON, or removed."""
    body = json.loads(json.dumps(draw(st.sampled_from(shapes))))
    path = draw(st.sampled_from(paths(body)))
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.booleans()) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON)
    return body


def assert_printable(text: str, limit: int) -> None:
    assert isinstance(text, str)
    assert len(text) <= limit
    text.encode("utf-8")  # no lone surrogates: this text goes to SQLite, logs and Discord
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text), text


def assert_sane(result: object, source_lists: list[object]) -> None:
    """The invariants every reader of a PollResult relies on."""
    assert isinstance(result, PollResult)
    assert isinstance(result.state, TaskState)
    assert_printable(result.raw_status, 64)
    assert isinstance(result.result_urls, tuple)
    for url in result.result_urls:
        assert isinstance(url, str)
        assert urlsplit(url).scheme.lower() in ("http", "https")
        assert urlsplit(url).hostname
        # Taken whole from a list the provider sent, never assembled from pieces of a string.
        assert any(isinstance(lst, list) and url in lst for lst in source_lists), url
    if result.state is TaskState.SUCCEEDED:
        assert len(result.result_urls) >= 1
    else:
        assert result.result_urls == ()
        assert result.billed_cost is None
    if result.billed_cost is not None:
        assert isinstance(result.billed_cost, Decimal)
        assert result.billed_cost.is_finite()
        assert result.billed_cost >= 0
        assert result.billed_cost <= 10_000
    if result.unreadable_cost is not None:
        assert_printable(result.unreadable_cost, 40)
    if result.progress is not None:
        assert isinstance(result.progress, float)
        assert 0.0 <= result.progress <= 1.0
    if result.started_at is not None:
        assert math.isfinite(result.started_at)
    if result.unreadable is not None:
        assert_printable(result.unreadable, 400)
    if result.state is TaskState.FAILED:
        assert result.failure is not None
        assert_printable(result.failure.code, 64)
        assert_printable(result.failure.title, DETAIL_LIMIT)
        assert_printable(result.failure.detail, DETAIL_LIMIT)
        assert isinstance(result.failure.user_message(), str)


def mulerouter_lists(body: object) -> list[object]:
    return [body.get("videos"), body.get("images")] if isinstance(body, dict) else []


def vtrix_lists(body: object) -> list[object]:
    """Vtrix links sit in ``output[].content[].url``: the lists they may come from."""
    found: list[object] = []
    if isinstance(body, dict) and isinstance(body.get("output"), list):
        for output in body["output"]:
            if isinstance(output, dict) and isinstance(output.get("content"), list):
                found.append(
                    [item.get("url") for item in output["content"] if isinstance(item, dict)]
                )
    return found


@BOUNDED
@given(body=JSON, kind=st.sampled_from(ResultKind))
def test_mulerouter_reads_arbitrary_json_sanely(body: object, kind: ResultKind) -> None:
    assert_sane(mulerouter.parse_task(body, kind), mulerouter_lists(body))


@BOUNDED
@given(body=mutated(mulerouter_shapes()), kind=st.sampled_from(ResultKind))
def test_mulerouter_reads_mutated_documented_shapes_sanely(
    body: dict[str, Any], kind: ResultKind
) -> None:
    assert_sane(mulerouter.parse_task(body, kind), mulerouter_lists(body))


@BOUNDED
@given(body=JSON)
def test_vtrix_reads_arbitrary_json_sanely(body: object) -> None:
    assert_sane(vtrix.parse_task(body), vtrix_lists(body))


@BOUNDED
@given(body=mutated(vtrix_shapes()))
def test_vtrix_reads_mutated_documented_shapes_sanely(body: dict[str, Any]) -> None:
    assert_sane(vtrix.parse_task(body), vtrix_lists(body))


@BOUNDED
@given(value=JSON)
def test_vtrix_cost_is_a_sane_decimal_or_none(value: object) -> None:
    cost = vtrix.parse_cost(value)
    assert cost is None or (isinstance(cost, Decimal) and cost.is_finite() and 0 <= cost <= 10_000)


class _FakeHTTP:
    """Stands in for ProviderHTTP: its create answers ``body`` (any dict), sends nothing."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.body


class _Request:
    def provider_body(self) -> dict[str, Any]:
        return {}


SPECS = {
    ProviderName.MULEROUTER: spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER),
    ProviderName.VTRIX: spec_for("wan2.2-i2v-flash", ProviderName.VTRIX),
}


@BOUNDED
@given(
    body=st.one_of(
        st.dictionaries(KEYS, JSON, max_size=5),
        st.builds(lambda v: {"task_info": {"id": v, "status": "pending"}}, JSON),
        st.builds(lambda v: {"id": v}, JSON),
        st.builds(lambda v: {"data": {"id": v}}, JSON),
    ),
    provider=st.sampled_from([ProviderName.MULEROUTER, ProviderName.VTRIX]),
)
def test_a_create_answer_gives_a_safe_task_id_or_outcome_unknown(
    body: dict[str, Any], provider: ProviderName
) -> None:
    client_type = MuleRouterClient if provider is ProviderName.MULEROUTER else VtrixClient
    client = client_type(_FakeHTTP(body))  # type: ignore[arg-type]
    try:
        task_id = asyncio.run(client.submit(SPECS[provider], _Request()))  # type: ignore[arg-type]
    except SubmissionOutcomeUnknown as exc:
        assert_printable(exc.detail, DETAIL_LIMIT)
        return
    assert isinstance(task_id, str)
    assert 1 <= len(task_id) <= 128
    assert task_id not in (".", "..")
    assert all(ch.isascii() and (ch.isalnum() or ch in "._:-") for ch in task_id), task_id


@BOUNDED
@given(body=JSON, status=st.integers(min_value=-5, max_value=1000), on_create=st.booleans())
def test_classify_gives_a_typed_error_with_a_clipped_printable_detail(
    body: object, status: int, on_create: bool
) -> None:
    error = classify(status, body, provider="mulerouter", on_create=on_create)
    assert isinstance(error, ProviderError)
    assert_printable(error.detail, DETAIL_LIMIT)
    assert isinstance(error.user_message, str)
    assert len(error.user_message) < DETAIL_LIMIT + 200
    assert isinstance(str(error), str)


@BOUNDED
@given(body=JSON)
def test_error_detail_is_always_clipped_printable_text(body: object) -> None:
    assert_printable(error_detail(body, "fallback"), DETAIL_LIMIT)


@BOUNDED
@given(raw=st.binary(max_size=200) | st.builds(str.encode, st.text(max_size=50)))
def test_any_bytes_decode_to_a_body_or_unreadable(raw: bytes) -> None:
    parsed, readable = decode_body(raw)
    if not readable:
        assert isinstance(parsed, str | None)


@BOUNDED
@given(value=st.none() | st.text(max_size=60) | INTERESTING_TEXT)
def test_retry_after_is_none_or_a_finite_bounded_wait(value: str | None) -> None:
    wait = parse_retry_after(value, now=1_800_000_000.0)
    assert wait is None or (math.isfinite(wait) and 0.0 <= wait <= 86400.0)
