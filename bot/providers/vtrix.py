"""Vtrix's generation API (``wan22_i2v_flash``): create a task, read a task.

Why this module exists: Vtrix nests its body (``input``/``parameters``), names the task id in
more than one place, reports real progress (0..1) and the billed cost as a *string* in
``usage.cost``, which the ledger prefers over any estimate.

What it must never do: read an answer of another shape as a success, or a cost that is not a
believable amount as a bill. Every value is read through :mod:`bot.providers.reading`.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from bot.catalog import ModelSpec, ResultKind, WanRequest
from bot.config import ProviderName
from bot.providers.base import PollResult, TaskFailure, TaskState, read_state
from bot.providers.errors import SubmissionOutcomeUnknown
from bot.providers.http import ProviderHTTP
from bot.providers.reading import (
    MAX_RESULT_URLS,
    MAX_WORD_CHARS,
    OnceLog,
    Unreadable,
    cost,
    excerpt,
    fraction,
    http_url,
    kind,
    task_id,
    text,
    word,
)

log = logging.getLogger(__name__)

CREATE_PATH = "/model/v1/generation"


def create_path(spec: ModelSpec) -> str:
    """``POST`` here creates a task; the model is named in the body (docs/providers.md#vtrix)."""
    return CREATE_PATH


def poll_path(spec: ModelSpec, task_id: str) -> str:
    """``GET`` here reads a task."""
    return f"{CREATE_PATH}/task/{task_id}"


STATUS_WORDS: dict[str, TaskState] = {
    "pending": TaskState.PENDING,
    "queued": TaskState.PENDING,
    "processing": TaskState.RUNNING,
    "in_progress": TaskState.RUNNING,
    "running": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}


def task_id_from(body: object) -> str | None:
    """The id of a created task: the first safe one of ``id``, ``task_id``, ``data.id``."""
    if not isinstance(body, dict):
        return None
    raw_data = body.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    for candidate in (body.get("id"), body.get("task_id"), data.get("id"), data.get("task_id")):
        found = task_id(candidate)
        if found is not None:
            return found
    return None


def parse_cost(value: object) -> Decimal | None:
    """``usage.cost`` as an exact Decimal (documented as a string; a finite number is read as
    its shortest decimal); ``None`` when absent or not a believable amount."""
    try:
        return cost(value)
    except Unreadable:
        return None


def parse_progress(value: object) -> float | None:
    return fraction(value)


def parse_task(body: object, result_kind: ResultKind = ResultKind.VIDEO) -> PollResult:
    """Read a Vtrix poll answer into a :class:`PollResult`.

    An answer of another shape is "not finished", with ``unreadable`` saying why; a cost that
    is not a believable amount is left out (``unreadable_cost``), the result is still posted.
    """
    if not isinstance(body, dict):
        return _unreadable("", f"the answer is {kind(body)}, not an object", body)
    found = body.get("status") or ""
    raw_status = word(found)
    if raw_status is None:
        return _unreadable("", f"the status is {kind(found)}, not a word", body)
    state = read_state(raw_status, "vtrix", STATUS_WORDS)
    progress = fraction(body.get("progress"))
    if state is TaskState.FAILED:
        error = body.get("error")
        if isinstance(error, dict):
            failure = TaskFailure(
                code=text(error.get("code"), MAX_WORD_CHARS),
                title="",
                detail=text(error.get("message")) or text(error.get("detail")),
            )
        else:
            failure = TaskFailure(code="", title="", detail=text(error))
        return PollResult(state, raw_status, progress=progress, failure=failure)
    if state is TaskState.SUCCEEDED:
        try:
            urls = _output_urls(body.get("output"), result_kind)
        except Unreadable as exc:
            return _unreadable(raw_status, str(exc), body, progress)
        if not urls:
            return _unreadable(raw_status, f"it is {raw_status!r} but has no output yet", body)
        usage = body.get("usage")
        raw_cost = usage.get("cost") if isinstance(usage, dict) else None
        billed = parse_cost(raw_cost)
        shown = None if raw_cost is None or billed is not None else excerpt(raw_cost, 40)
        if usage is not None and not isinstance(usage, dict):
            shown = excerpt(usage, 40)  # a usage that is not an object is no bill either
        return PollResult(
            state,
            raw_status,
            progress=1.0,
            result_urls=urls,
            billed_cost=billed,
            unreadable_cost=shown,
        )
    return PollResult(state, raw_status, progress=progress)


def _output_urls(output: object, result_kind: ResultKind) -> tuple[str, ...]:
    """The links in ``output[].content[]`` of the wanted type (an item without a type counts;
    one of the other type, such as a cover image of a video, is skipped)."""
    wanted = "video" if result_kind is ResultKind.VIDEO else "image"
    if output is None:
        return ()
    if not isinstance(output, list):
        raise Unreadable(f"output is {kind(output)}, not a list")
    urls: list[str] = []
    for entry in output:
        if not isinstance(entry, dict):
            raise Unreadable(f"an output entry is {kind(entry)}")
        content = entry.get("content")
        if content is None:
            continue
        if not isinstance(content, list):
            raise Unreadable(f"output content is {kind(content)}, not a list")
        for item in content:
            if not isinstance(item, dict):
                raise Unreadable(f"an output item is {kind(item)}")
            item_type = item.get("type")
            if item_type is not None and not isinstance(item_type, str):
                raise Unreadable(f"an output item's type is {kind(item_type)}")
            if item_type is None or item_type.strip().lower() == wanted:
                urls.append(http_url(item.get("url")))
    if len(urls) > MAX_RESULT_URLS:
        raise Unreadable(f"output has {len(urls)} links; at most {MAX_RESULT_URLS} make sense")
    return tuple(urls)


def _unreadable(
    raw_status: str, why: str, body: object, progress: float | None = None
) -> PollResult:
    return PollResult(
        TaskState.RUNNING, raw_status, progress=progress, unreadable=f"{why}: {excerpt(body)}"
    )


class VtrixClient:
    """:class:`~bot.providers.base.GenerationProvider` for Vtrix."""

    name = ProviderName.VTRIX

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http
        self._once = OnceLog(log, self.name.value)

    def __repr__(self) -> str:
        return f"VtrixClient({self.http!r})"

    async def submit(self, spec: ModelSpec, request: WanRequest) -> str:
        body = await self.http.create(create_path(spec), request.provider_body())
        created = task_id_from(body)
        if created is None:
            raise SubmissionOutcomeUnknown(
                f"create was accepted but the answer carries no usable id: {excerpt(body, 120)}",
                provider=self.name,
            )
        return created

    async def poll(self, spec: ModelSpec, task_id: str) -> PollResult:
        result = parse_task(await self.http.get(poll_path(spec, task_id)), spec.result_kind)
        if result.unreadable is not None:
            self._once.unreadable(task_id, result.unreadable)
        return result
