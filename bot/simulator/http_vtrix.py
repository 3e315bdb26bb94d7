"""Vtrix's contract: ``POST /model/v1/generation`` and ``GET /model/v1/generation/task/{id}``.

Why this module exists: Vtrix nests its body (``input``/``parameters``), names its errors with
string codes, reports progress and the billed cost, and returns the task id under one of three
names (``docs/providers.md#vtrix``); this module answers in those terms, validating with the
simulator's own contract of the model the body names (:mod:`bot.simulator.contracts`, never the
bot's catalog).
"""

from __future__ import annotations

import time

from aiohttp import web

from bot.config import ProviderName
from bot.simulator.contracts import VTRIX, Refused, validate
from bot.simulator.faults import FaultTarget
from bot.simulator.http_common import authorized, json_object, note_task, state_of
from bot.simulator.http_faults import with_faults
from bot.simulator.shapes import error_body, vtrix_created, vtrix_invalid, vtrix_poll
from bot.simulator.state import BalanceExhausted

_PROVIDER = ProviderName.VTRIX
CREATE_PATH = "/model/v1/generation"
POLL_PATH = "/model/v1/generation/task/{task_id}"


def _error(status: int, message: str | None = None) -> web.Response:
    return web.json_response(error_body(_PROVIDER, status, message), status=status)


def _invalid(detail: str) -> web.Response:
    return web.json_response(vtrix_invalid(detail), status=400)


async def create(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    body = await json_object(request)
    if body is None:
        return _invalid("The request body must be a JSON object.")
    model = body.get("model")
    contract = VTRIX.get(model) if isinstance(model, str) else None
    if contract is None:
        return _invalid(f"model must be one of: {', '.join(VTRIX)}.")
    try:
        record = validate(contract, body)
    except Refused as exc:
        return _invalid(" ".join(exc.problems))
    try:
        task = state.create_task(contract, record)
    except BalanceExhausted:
        return _error(402)
    note_task(task.id)
    return web.json_response(vtrix_created(task))


async def poll(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    task = state.task(request.match_info["task_id"])
    if task is None or task.provider is not _PROVIDER:
        return _error(404, "Task not found")
    now = time.monotonic()
    task.note_poll(now)
    note_task(task.id)
    return web.json_response(vtrix_poll(task, now, state.base_url))


def routes() -> list[web.RouteDef]:
    return [
        web.post(CREATE_PATH, with_faults(FaultTarget.CREATE, create)),
        web.get(POLL_PATH, with_faults(FaultTarget.POLL, poll)),
    ]
