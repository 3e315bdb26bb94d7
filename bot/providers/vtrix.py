"""Vtrix's generation API (``wan22_i2v_flash``): create a task, read a task.

Why this module exists: Vtrix nests its body (``input``/``parameters``), names the task id in
more than one place, reports real progress (0..1) and the billed cost as a *string* in
``usage.cost``, which the ledger prefers over any estimate.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.catalog import ModelSpec, WanRequest
from bot.config import ProviderName
from bot.providers.base import PollResult, TaskFailure, TaskState, read_state
from bot.providers.errors import SubmissionOutcomeUnknown
from bot.providers.http import ProviderHTTP

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


def task_id_from(body: dict[str, Any]) -> str | None:
    """The id of a created task: ``id``, ``task_id`` or ``data.id``."""
    raw_data = body.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    for candidate in (body.get("id"), body.get("task_id"), data.get("id"), data.get("task_id")):
        if isinstance(candidate, str | int) and str(candidate):
            return str(candidate)
    return None


def parse_cost(value: object) -> Decimal | None:
    """``usage.cost`` as an exact Decimal. Documented as a string; a number is read via ``str``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        cost = Decimal(value) if isinstance(value, str | int) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        log.warning("vtrix sent an unreadable usage.cost %r", value)
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def parse_progress(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    progress = float(value) / 100 if value > 1 else float(value)
    return min(max(progress, 0.0), 1.0)


def parse_task(body: dict[str, Any]) -> PollResult:
    """Read a Vtrix poll answer into a :class:`PollResult`."""
    raw_status = str(body.get("status") or "")
    state = read_state(raw_status, "vtrix", STATUS_WORDS)
    progress = parse_progress(body.get("progress"))
    if state is TaskState.FAILED:
        error = body.get("error")
        if isinstance(error, dict):
            failure = TaskFailure(
                code=str(error.get("code") or ""),
                title="",
                detail=str(error.get("message") or error.get("detail") or ""),
            )
        else:
            failure = TaskFailure(code="", title="", detail=str(error or ""))
        return PollResult(state, raw_status, progress=progress, failure=failure)
    if state is TaskState.SUCCEEDED:
        urls = tuple(
            item["url"]
            for output in body.get("output") or ()
            if isinstance(output, dict)
            for item in output.get("content") or ()
            if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]
        )
        if not urls:
            log.warning("vtrix task %s is %r but has no output yet", body.get("id"), raw_status)
            return PollResult(TaskState.RUNNING, raw_status, progress=progress)
        raw_usage = body.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        raw_cost = usage.get("cost")
        billed = parse_cost(raw_cost)
        return PollResult(
            state,
            raw_status,
            progress=1.0,
            result_urls=urls,
            billed_cost=billed,
            unreadable_cost=None if raw_cost is None or billed is not None else repr(raw_cost)[:40],
        )
    return PollResult(state, raw_status, progress=progress)


class VtrixClient:
    """:class:`~bot.providers.base.GenerationProvider` for Vtrix."""

    name = ProviderName.VTRIX

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http

    def __repr__(self) -> str:
        return f"VtrixClient({self.http!r})"

    async def submit(self, spec: ModelSpec, request: WanRequest) -> str:
        body = await self.http.create(create_path(spec), request.provider_body())
        task_id = task_id_from(body)
        if task_id is None:
            raise SubmissionOutcomeUnknown(
                "create was accepted but the answer carries no id", provider=self.name
            )
        return task_id

    async def poll(self, spec: ModelSpec, task_id: str) -> PollResult:
        return parse_task(await self.http.get(poll_path(spec, task_id)))
