"""MuleRouter's Wan endpoints: create a task, read a task.

Why this module exists: MuleRouter's answers come in several spellings (status words differ
between pages of its docs; a failed task's error sits either in ``task_info.error`` or at the top
level with ``error_code``). This module reads every documented shape into one
:class:`~bot.providers.base.PollResult` so nothing downstream has to know.

MuleRouter reports neither progress nor cost: ``progress`` and ``billed_cost`` stay ``None``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bot.catalog import ModelSpec, ResultKind, WanRequest
from bot.config import ProviderName
from bot.providers.base import PollResult, TaskFailure, TaskState, read_state
from bot.providers.errors import SubmissionOutcomeUnknown
from bot.providers.http import ProviderHTTP

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


def parse_task(body: dict[str, Any], result_kind: ResultKind) -> PollResult:
    """Read a MuleRouter poll answer (any documented shape) into a :class:`PollResult`."""
    raw_task_info = body.get("task_info")
    task_info: dict[str, Any] = raw_task_info if isinstance(raw_task_info, dict) else {}
    raw_status = str(task_info.get("status") or body.get("status") or "")
    state = read_state(raw_status, "mulerouter", STATUS_WORDS)
    if state is TaskState.FAILED:
        return PollResult(state, raw_status, failure=_failure(body, task_info))
    if state is TaskState.SUCCEEDED:
        key = "videos" if result_kind is ResultKind.VIDEO else "images"
        urls = tuple(url for url in body.get(key) or () if isinstance(url, str) and url)
        if not urls:
            # A completed task without its result list: keep looking rather than report a
            # success with nothing to deliver. The job's deadline bounds the wait.
            log.warning(
                "mulerouter task %s is %r but has no %s yet", task_info.get("id"), raw_status, key
            )
            return PollResult(TaskState.RUNNING, raw_status)
        return PollResult(state, raw_status, result_urls=urls)
    if state is TaskState.RUNNING:
        return PollResult(state, raw_status, started_at=_epoch(task_info.get("updated_at")))
    return PollResult(state, raw_status)


def _epoch(stamp: object) -> float | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as epoch seconds, else ``None``."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _failure(body: dict[str, Any], task_info: dict[str, Any]) -> TaskFailure:
    raw_error = task_info.get("error")
    error: dict[str, Any] | None = raw_error if isinstance(raw_error, dict) else None
    if error is None and isinstance(body.get("error"), dict):
        error = body["error"]
    error = error or {}
    code = error.get("code", error.get("error_code", ""))
    return TaskFailure(
        code=str(code) if code is not None else "",
        title=str(error.get("title") or ""),
        detail=str(error.get("detail") or error.get("message") or ""),
    )


class MuleRouterClient:
    """:class:`~bot.providers.base.GenerationProvider` for MuleRouter."""

    name = ProviderName.MULEROUTER

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http

    def __repr__(self) -> str:
        return f"MuleRouterClient({self.http!r})"

    async def submit(self, spec: ModelSpec, request: WanRequest) -> str:
        body = await self.http.create(create_path(spec), request.provider_body())
        task_info = body.get("task_info")
        task_id = task_info.get("id") if isinstance(task_info, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise SubmissionOutcomeUnknown(
                "create was accepted but the answer carries no task_info.id",
                provider=self.name,
            )
        return task_id

    async def poll(self, spec: ModelSpec, task_id: str) -> PollResult:
        return parse_task(await self.http.get(poll_path(spec, task_id)), spec.result_kind)
