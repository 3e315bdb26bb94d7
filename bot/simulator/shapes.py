"""The JSON bodies both providers answer with (``docs/providers.md#mulerouter-task-answers``,
``docs/providers.md#vtrix-task-answers`` and ``docs/providers.md#errors-and-retries``).

Why this module exists: clients are written against these shapes, including their variants
(two failure-error locations on MuleRouter, three task-id fields on Vtrix, two timestamp styles),
so they are built in one place from a task's state and nowhere else.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bot.config import ProviderName
from bot.simulator.contracts import REFUSALS, Result
from bot.simulator.tasks import SimTask, TaskPhase

# status -> (Vtrix error code, message shared by both providers)
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    401: ("unauthorized", "Invalid API key"),
    402: ("insufficient_balance", "Insufficient balance"),
    404: ("not_found", "Not found"),
    429: ("rate_limit_exceeded", "Rate limit exceeded, please retry later"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service temporarily unavailable"),
}


def iso(epoch: float, precise: bool) -> str:
    """``2026-09-21T08:23:12.657134+00:00`` when ``precise``, else ``2026-09-21T08:23:12Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat() if precise else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def result_urls(task: SimTask, base_url: str) -> list[str]:
    if task.contract.result is Result.VIDEO:
        return [f"{base_url}/media/video/{task.id}.mp4"]
    return [f"{base_url}/media/images/{task.id}/{index}.png" for index in range(task.result_count)]


def error_body(provider: ProviderName, status: int, message: str | None = None) -> dict[str, Any]:
    """An HTTP error: ``{"detail"}`` on MuleRouter, ``{"error": {code, message}}`` on Vtrix."""
    code, default = _HTTP_ERRORS[status]
    text = message or default
    if provider is ProviderName.MULEROUTER:
        return {"detail": text}
    return {"error": {"code": code, "message": text}}


def mulerouter_invalid(detail: str, *, plain: bool) -> dict[str, Any]:
    """A refusal (400) in one of the two observed MuleRouter shapes."""
    if plain:
        return {"detail": detail}
    shape = REFUSALS[ProviderName.MULEROUTER]
    return {
        "task_info": {
            "status": "failed",
            "error": {"code": shape.code, "title": shape.title, "detail": detail},
        }
    }


def vtrix_invalid(detail: str) -> dict[str, Any]:
    """A refusal (400) in Vtrix's shape."""
    return {"error": {"code": REFUSALS[ProviderName.VTRIX].code, "message": detail}}


def mulerouter_created(task: SimTask) -> dict[str, Any]:
    stamp = iso(task.created_wall, task.precise_timestamps)
    return {
        "task_info": {"id": task.id, "status": "pending", "created_at": stamp, "updated_at": stamp}
    }


def mulerouter_poll(task: SimTask, now: float, base_url: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": task.id,
        "status": task.word(now),
        "created_at": iso(task.created_wall, task.precise_timestamps),
        "updated_at": iso(task.wall_time(task.phase_started(now)), task.precise_timestamps),
    }
    body: dict[str, Any] = {"task_info": info}
    phase = task.phase(now)
    if phase is TaskPhase.SUCCEEDED:
        key = "videos" if task.contract.result is Result.VIDEO else "images"
        body[key] = result_urls(task, base_url)
    elif phase is TaskPhase.FAILED and task.error is not None:
        error = task.error
        if task.error_at_top:
            body["error"] = {"error_code": error.code, "title": error.title, "detail": error.detail}
        else:
            info["error"] = {"code": error.code, "title": error.title, "detail": error.detail}
    return body


def vtrix_created(task: SimTask) -> dict[str, Any]:
    if task.vtrix_id_field == "data.id":
        return {"data": {"id": task.id}}
    return {task.vtrix_id_field: task.id}


def vtrix_poll(task: SimTask, now: float, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "model": task.contract.key,
        "created_at": int(task.created_wall),
        "status": task.word(now),
        "progress": task.progress(now),
        "metadata": {},
    }
    phase = task.phase(now)
    if phase is TaskPhase.SUCCEEDED:
        job_id = str(uuid.uuid5(uuid.NAMESPACE_OID, task.id))
        kind = "video" if task.contract.result is Result.VIDEO else "image"
        body["output"] = [
            {
                "content": [
                    {"type": kind, "url": url, "duration": task.video_seconds, "jobId": job_id}
                    for url in result_urls(task, base_url)
                ]
            }
        ]
        body["usage"] = {"cost": str(task.cost), "discount": 0}
    elif phase is TaskPhase.FAILED and task.error is not None:
        body["error"] = {
            "code": str(task.error.code),
            "message": f"{task.error.title}: {task.error.detail}",
        }
    return body
