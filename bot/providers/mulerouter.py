"""MuleRouter's Wan endpoints: create a task, read a task.

Why this module exists: MuleRouter's answers come in several spellings (status words differ
between pages of its docs; a failed task's error sits either in ``task_info.error`` or at the top
level with ``error_code``). This module reads every documented shape into one
:class:`~bot.providers.base.PollResult` so nothing downstream has to know.

What it must never do: read an answer of another shape as a success. Every value is read
through :mod:`bot.providers.reading`; what cannot be read is "not finished yet", logged once per
task with a clipped excerpt.

MuleRouter reports neither progress nor cost: ``progress`` and ``billed_cost`` stay ``None``.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.catalog import ModelSpec, ResultKind, WanRequest
from bot.config import ProviderName
from bot.providers.base import PollResult, TaskFailure, TaskState, read_state
from bot.providers.errors import SubmissionOutcomeUnknown
from bot.providers.http import ProviderHTTP
from bot.providers.reading import (
    MAX_WORD_CHARS,
    OnceLog,
    Unreadable,
    epoch,
    excerpt,
    kind,
    task_id,
    text,
    url_list,
    word,
)

log = logging.getLogger(__name__)


def create_path(spec: ModelSpec) -> str:
    """``POST`` here creates a task (docs/providers.md#mulerouter)."""
    return f"/vendors/alibaba/v1/{spec.upstream_id}/generation"


def poll_path(spec: ModelSpec, task_id: str) -> str:
    """``GET`` here reads a task: the create path plus the task id."""
    return f"{create_path(spec)}/{task_id}"


STATUS_WORDS: dict[str, TaskState] = {
    "pending": TaskState.PENDING,
    "queued": TaskState.PENDING,
    "processing": TaskState.RUNNING,
    "running": TaskState.RUNNING,
    "retrying": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}


def parse_task(body: object, result_kind: ResultKind) -> PollResult:
    """Read a MuleRouter poll answer (any documented shape) into a :class:`PollResult`.

    An answer of another shape (a string where the result list belongs, a link that is not
    http(s), a status that is not a word) is "not finished", with ``unreadable`` saying why.
    """
    if not isinstance(body, dict):
        return _unreadable("", f"the answer is {kind(body)}, not an object", body)
    raw_task_info = body.get("task_info")
    if raw_task_info is not None and not isinstance(raw_task_info, dict):
        return _unreadable("", f"task_info is {kind(raw_task_info)}", body)
    task_info: dict[str, Any] = raw_task_info or {}
    found = task_info.get("status") or body.get("status") or ""
    raw_status = word(found)
    if raw_status is None:
        return _unreadable("", f"the status is {kind(found)}, not a word", body)
    state = read_state(raw_status, "mulerouter", STATUS_WORDS)
    if state is TaskState.FAILED:
        return PollResult(state, raw_status, failure=_failure(body, task_info))
    if state is TaskState.SUCCEEDED:
        key = "videos" if result_kind is ResultKind.VIDEO else "images"
        try:
            urls = url_list(body.get(key), what=key)
        except Unreadable as exc:
            return _unreadable(raw_status, str(exc), body)
        if not urls:
            # A completed task without its result list: keep looking rather than report a
            # success with nothing to deliver. The job's deadline bounds the wait.
            return _unreadable(raw_status, f"it is {raw_status!r} but has no {key} yet", body)
        return PollResult(state, raw_status, result_urls=urls)
    if state is TaskState.RUNNING:
        return PollResult(state, raw_status, started_at=epoch(task_info.get("updated_at")))
    return PollResult(state, raw_status)


def _unreadable(raw_status: str, why: str, body: object) -> PollResult:
    return PollResult(TaskState.RUNNING, raw_status, unreadable=f"{why}: {excerpt(body)}")


def task_id_from(body: object) -> str | None:
    """The id of a created task (``task_info.id``), if it is safe to put in the poll path."""
    task_info = body.get("task_info") if isinstance(body, dict) else None
    return task_id(task_info.get("id")) if isinstance(task_info, dict) else None


def _failure(body: dict[str, Any], task_info: dict[str, Any]) -> TaskFailure:
    raw_error = task_info.get("error")
    error: dict[str, Any] | None = raw_error if isinstance(raw_error, dict) else None
    if error is None and isinstance(body.get("error"), dict):
        error = body["error"]
    error = error or {}
    code = error.get("code", error.get("error_code"))
    return TaskFailure(
        code=text(code, MAX_WORD_CHARS),
        title=text(error.get("title")),
        detail=text(error.get("detail")) or text(error.get("message")),
    )


class MuleRouterClient:
    """:class:`~bot.providers.base.GenerationProvider` for MuleRouter."""

    name = ProviderName.MULEROUTER

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http
        self._once = OnceLog(log, self.name.value)

    def __repr__(self) -> str:
        return f"MuleRouterClient({self.http!r})"

    async def submit(self, spec: ModelSpec, request: WanRequest) -> str:
        body = await self.http.create(create_path(spec), request.provider_body())
        created = task_id_from(body)
        if created is None:
            raise SubmissionOutcomeUnknown(
                "create was accepted but the answer carries no usable task_info.id: "
                f"{excerpt(body, 120)}",
                provider=self.name,
            )
        return created

    async def poll(self, spec: ModelSpec, task_id: str) -> PollResult:
        result = parse_task(await self.http.get(poll_path(spec, task_id)), spec.result_kind)
        if result.unreadable is not None:
            self._once.unreadable(task_id, result.unreadable)
        return result
