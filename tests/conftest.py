"""Shared fixtures: a running provider simulator on loopback, and ways to talk to it.

``simulator`` is a fast, seeded simulator for one test; ``make_simulator(**overrides)`` starts one
with other :class:`~bot.simulator.SimulatorConfig` settings. Both are stopped after the test.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.simulator import SimulatorConfig, SimulatorServer

SIM_SPEED = 200.0
SIM_SEED = 1234

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]


@pytest.fixture
async def make_simulator() -> AsyncIterator[MakeSimulator]:
    """Start simulators with ``SimulatorConfig`` overrides (fast and seeded unless overridden)."""
    started: list[SimulatorServer] = []

    async def make(**overrides: Any) -> SimulatorServer:
        settings: dict[str, Any] = {"speed": SIM_SPEED, "seed": SIM_SEED, **overrides}
        server = SimulatorServer(SimulatorConfig(**settings))
        await server.start("127.0.0.1", 0)
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> SimulatorServer:
    """A running simulator: speed 200 (a 90 s task takes about 0.45 s), fixed seed."""
    return await make_simulator()


@pytest.fixture
async def sim_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def png_data_uri() -> Callable[[int, int], str]:
    """``png_data_uri(width, height)``: a small PNG of that size as a ``data:`` URI."""

    def make(width: int, height: int) -> str:
        out = io.BytesIO()
        Image.new("RGB", (width, height), (40, 120, 200)).save(out, format="PNG")
        return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()

    return make
