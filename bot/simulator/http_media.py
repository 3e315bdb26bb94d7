"""Result downloads: ``/media/video/{task_id}.mp4`` and ``/media/images/{task_id}/{i}.png``.

Why this module exists: result URLs in poll answers must lead somewhere real, so clients can be
tested on downloading, checking and attaching results. Like a CDN link, no key is needed; a task
that has not succeeded has no files (404).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bot.simulator.contracts import Result
from bot.simulator.faults import FaultTarget
from bot.simulator.http_common import state_of
from bot.simulator.http_faults import with_faults
from bot.simulator.media import render_png, sample_mp4
from bot.simulator.tasks import SimTask, TaskPhase


def _succeeded(request: web.Request, kind: Result) -> SimTask | None:
    task = state_of(request).task(request.match_info["task_id"])
    if task is None or task.contract.result is not kind:
        return None
    return task if task.phase(time.monotonic()) is TaskPhase.SUCCEEDED else None


async def video(request: web.Request) -> web.Response:
    if _succeeded(request, Result.VIDEO) is None:
        return web.Response(status=404, text="no such video")
    return web.Response(body=sample_mp4(), content_type="video/mp4")


async def image(request: web.Request) -> web.Response:
    task = _succeeded(request, Result.IMAGES)
    index = int(request.match_info["index"])
    if task is None or task.image_size is None or not 0 <= index < task.result_count:
        return web.Response(status=404, text="no such image")
    png = await asyncio.to_thread(render_png, task.id, index, *task.image_size)
    return web.Response(body=png, content_type="image/png")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/media/video/{task_id}.mp4", with_faults(FaultTarget.MEDIA, video)),
        web.get(r"/media/images/{task_id}/{index:\d+}.png", with_faults(FaultTarget.MEDIA, image)),
    ]
