"""The control API under ``/_sim/`` (no key): what tests in another process use to steer.

Why this module exists: a client under test may run in a subprocess (the CLI, benchmarks), so
each :class:`~bot.simulator.state.SimulatorState` operation is also reachable over HTTP.

Routes: ``GET /_sim/requests[?full=1]``, ``GET|POST /_sim/faults``, ``GET|POST /_sim/config``,
``GET /_sim/tasks``, ``GET /_sim/tasks/{id}``, ``GET /_sim/webhooks`` (deliveries made, events
dropped), ``POST /_sim/reset``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from bot.simulator.faults import ScriptedFault
from bot.simulator.http_common import json_object, state_of
from bot.simulator.state import SimulatorState

_FAULT_LIST = TypeAdapter(list[ScriptedFault])


def _bad_request(detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=400)


def _config_view(state: SimulatorState) -> dict[str, Any]:
    balance = state.balance
    return {
        "config": state.config.public_json(),
        "balance": None if balance is None else str(balance),
        "spent": str(state.spent),
    }


def _faults_view(state: SimulatorState) -> dict[str, Any]:
    return {"pending": [fault.model_dump(mode="json") for fault in state.faults.pending()]}


async def list_requests(request: web.Request) -> web.Response:
    full = request.query.get("full", "") in ("1", "true", "yes")
    return web.json_response(
        {"requests": [record.to_json(full=full) for record in state_of(request).requests]}
    )


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_faults_view(state_of(request)))


async def push_faults(request: web.Request) -> web.Response:
    """Body: one fault object, a list of them, or ``{"faults": [...]}``."""
    try:
        body: Any = await request.json()
    except ValueError:
        return _bad_request("body must be JSON")
    if isinstance(body, dict):
        body = body["faults"] if set(body) == {"faults"} else [body]
    try:
        faults = _FAULT_LIST.validate_python(body)
    except ValidationError as exc:
        return _bad_request(str(exc))
    state = state_of(request)
    state.push_faults(*faults)
    return web.json_response(_faults_view(state))


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(_config_view(state_of(request)))


async def patch_config(request: web.Request) -> web.Response:
    changes = await json_object(request)
    if changes is None:
        return _bad_request("body must be a JSON object of settings")
    state = state_of(request)
    try:
        state.patch_config(changes)
    except ValidationError as exc:
        return _bad_request(str(exc))
    return web.json_response(_config_view(state))


async def list_tasks(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response(
        {"tasks": [state.describe_task(task) for task in state.tasks.values()]}
    )


async def get_task(request: web.Request) -> web.Response:
    state = state_of(request)
    task = state.task(request.match_info["task_id"])
    if task is None:
        return web.json_response({"detail": "Task not found"}, status=404)
    return web.json_response(state.describe_task(task))


async def list_webhooks(request: web.Request) -> web.Response:
    queue = state_of(request).webhooks
    return web.json_response(
        {
            "deliveries": [delivery.to_json() for delivery in queue.deliveries],
            "dropped": list(queue.dropped),
            "pending": len(queue),
        }
    )


async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return web.json_response({"ok": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/_sim/requests", list_requests),
        web.get("/_sim/faults", get_faults),
        web.post("/_sim/faults", push_faults),
        web.get("/_sim/config", get_config),
        web.post("/_sim/config", patch_config),
        web.get("/_sim/tasks", list_tasks),
        web.get("/_sim/tasks/{task_id}", get_task),
        web.get("/_sim/webhooks", list_webhooks),
        web.post("/_sim/reset", reset),
    ]
