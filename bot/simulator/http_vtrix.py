"""Vtrix's contract: ``POST /model/v1/generation`` and ``GET /model/v1/generation/task/{id}``.

Why this module exists: Vtrix nests its body (``input``/``parameters``), names its errors with
string codes, reports progress and the billed cost, and returns the task id under one of three
names; this module answers in those terms, validating with the catalog's Vtrix request model.
"""

from __future__ import annotations

import time

from aiohttp import web

from bot.catalog import RequestInvalid, VtrixWan22I2VFlashRequest, spec_for
from bot.config import ProviderName
from bot.simulator.faults import FaultTarget
from bot.simulator.http_common import authorized, json_object, note_task, state_of
from bot.simulator.http_faults import with_faults
from bot.simulator.shapes import error_body, vtrix_created, vtrix_invalid, vtrix_poll
from bot.simulator.state import BalanceExhausted

_PROVIDER = ProviderName.VTRIX
_SPEC = spec_for("wan2.2-i2v-flash", _PROVIDER)
CREATE_PATH = "/model/v1/generation"
POLL_PATH = "/model/v1/generation/task/{task_id}"


def _error(status: int, message: str | None = None) -> web.Response:
    return web.json_response(error_body(_PROVIDER, status, message), status=status)


async def create(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    body = await json_object(request)
    if body is None:
        return web.json_response(
            vtrix_invalid("The request body must be a JSON object."), status=400
        )
    try:
        parsed = _SPEC.parse(VtrixWan22I2VFlashRequest.from_provider_body(body))
    except RequestInvalid as exc:
        return web.json_response(vtrix_invalid(" ".join(exc.problems)), status=400)
    try:
        task = state.create_task(_SPEC, parsed)
    except BalanceExhausted:
        return _error(402)
    note_task(task.id)
    return web.json_response(vtrix_created(task))


async def poll(request: web.Request) -> web.Response:
    state = state_of(request)
    if not authorized(request, _PROVIDER):
        return _error(401)
    task = state.task(request.match_info["task_id"])
    if task is None or task.spec is not _SPEC:
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
