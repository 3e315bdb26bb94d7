"""Assembles the simulator's aiohttp application: both providers, media and control routes.

Why this module exists: one place lists every route and middleware, so the server wrapper and
any test that wants the bare application build the same thing.
"""

from __future__ import annotations

from aiohttp import web

from bot.simulator import http_control, http_media, http_mulerouter, http_vtrix
from bot.simulator.http_common import STATE, record_requests
from bot.simulator.state import SimulatorState

# Up to three 10 MB images, base64-encoded, plus the rest of the body.
MAX_BODY_BYTES = 48 * 1024 * 1024


def build_app(state: SimulatorState) -> web.Application:
    app = web.Application(middlewares=[record_requests], client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    app.add_routes(
        [
            *http_mulerouter.routes(),
            *http_vtrix.routes(),
            *http_media.routes(),
            *http_control.routes(),
        ]
    )
    return app
