"""Served result media, the ``/_sim/`` control API, the Python API and the command line."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import struct
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bot.simulator import (
    DEFAULT_MULEROUTER_KEY,
    DEFAULT_VTRIX_KEY,
    SimulatorConfig,
    SimulatorServer,
    add_simulator_arguments,
    config_from_args,
)
from tests.waiting import wait_until

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]  # the make_simulator fixture
MULE = {"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"}
T2V = "/vendors/alibaba/v1/wan2.2-t2v-plus/generation"
I2I = "/vendors/alibaba/v1/wan2.5-i2i-preview/generation"
REPO = Path(__file__).resolve().parents[2]
PngUri = Callable[[int, int], str]


def mp4_boxes(data: bytes) -> list[str]:
    """Top-level box types, checking that the box sizes tile the file exactly."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
            header = 16
        elif size == 0:
            size = len(data) - offset
        assert size >= header, f"bad box size at {offset}"
        boxes.append(kind.decode("ascii"))
        offset += size
    assert offset == len(data)
    return boxes


async def create(
    session: aiohttp.ClientSession, sim: SimulatorServer, path: str, body: dict[str, Any]
) -> str:
    async with session.post(sim.base_url + path, json=body, headers=MULE) as resp:
        assert resp.status == 202
        task_id: str = (await resp.json())["task_info"]["id"]
        return task_id


async def wait_finished(
    session: aiohttp.ClientSession, sim: SimulatorServer, task_id: str
) -> dict[str, Any]:

    async def look() -> dict[str, Any]:
        async with session.get(f"{sim.base_url}/_sim/tasks/{task_id}") as resp:
            task: dict[str, Any] = await resp.json()
        return task

    return await wait_until(
        look,
        done=lambda task: task["finished_at_monotonic"] is not None,
        timeout=6.0,
        interval=0.02,
        message=f"task {task_id} to finish",
    )


async def test_video_is_a_real_mp4(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
) -> None:
    task_id = await create(sim_session, simulator, T2V, {"prompt": "a cat"})
    url = f"{simulator.base_url}/media/video/{task_id}.mp4"
    async with sim_session.get(url) as resp:
        assert resp.status == 404  # not finished yet
    task = await wait_finished(sim_session, simulator, task_id)
    assert task["result_urls"] == [url]
    async with sim_session.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        data = await resp.read()
    boxes = mp4_boxes(data)
    assert boxes[0] == "ftyp"
    assert {"moov", "mdat"} <= set(boxes)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart
    assert len(data) < 50_000


async def test_images_are_pngs_of_the_requested_size_and_differ(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    body = {"prompt": "a hat", "images": [png_data_uri(400, 400)], "n": 3, "size": "1024*768"}
    task_id = await create(sim_session, simulator, I2I, body)
    task = await wait_finished(sim_session, simulator, task_id)
    assert len(task["result_urls"]) == 3
    pictures = []
    for url in task["result_urls"]:
        async with sim_session.get(url) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/png"
            image = Image.open(io.BytesIO(await resp.read()))
        assert image.format == "PNG"
        assert image.size == (1024, 768)
        pictures.append(image.convert("RGB").tobytes())
    assert len(set(pictures)) == 3
    async with sim_session.get(f"{simulator.base_url}/media/images/{task_id}/3.png") as resp:
        assert resp.status == 404


async def test_recorded_requests_shorten_images_and_never_hold_the_key(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    png_data_uri: PngUri,
) -> None:
    image = png_data_uri(400, 400)
    body = {"prompt": "a cat", "image": image, "resolution": "480P"}
    await create(sim_session, simulator, "/vendors/alibaba/v1/wan2.2-i2v-flash/generation", body)
    async with sim_session.get(simulator.base_url + "/_sim/requests") as resp:
        [short] = (await resp.json())["requests"]
    async with sim_session.get(simulator.base_url + "/_sim/requests?full=1") as resp:
        [full] = (await resp.json())["requests"]
    assert re.fullmatch(
        r"data:image/png;base64,<\d+ bytes sha256:[0-9a-f]{12}>", short["body"]["image"]
    )
    assert full["body"] == body == simulator.state.requests[0].body
    assert short["auth_ok"] is True
    assert short["status"] == 202
    assert short["task_id"] == full["task_id"]
    assert DEFAULT_MULEROUTER_KEY not in str(full)


async def test_config_patch_tasks_view_and_reset(
    make_simulator: MakeSimulator,
    sim_session: aiohttp.ClientSession,
) -> None:
    sim = await make_simulator(balance=Decimal("5"))
    base = sim.base_url
    patch = {"failure_rate": 1.0, "balance": "0.30", "speed": 400, "fault_targets": {}}
    async with sim_session.post(base + "/_sim/config", json=patch) as resp:
        assert resp.status == 200
        view = await resp.json()
    assert view["balance"] == "0.30"
    assert view["config"]["failure_rate"] == 1.0
    assert "keys" not in view["config"]
    async with sim_session.post(base + "/_sim/config", json={"failure_rate": 2}) as resp:
        assert resp.status == 400
    async with sim_session.post(base + "/_sim/config", json={"no_such": 1}) as resp:
        assert resp.status == 400

    task_id = await create(sim_session, sim, T2V, {"prompt": "cat", "size": "832*480"})
    task = await wait_finished(sim_session, sim, task_id)
    assert task["outcome"] == "failed"
    assert task["phase"] == "failed"
    assert task["error"]["code"] in range(3001, 3006)
    assert task["cost"] == "0.10"
    assert task["result_urls"] == []
    assert task["finishes_at_monotonic"] == task["finished_at_monotonic"]
    async with sim_session.get(base + "/_sim/tasks") as resp:
        assert [t["id"] for t in (await resp.json())["tasks"]] == [task_id]
    async with sim_session.get(base + "/_sim/config") as resp:
        assert (await resp.json())["balance"] == "0.20"

    async with sim_session.post(base + "/_sim/reset") as resp:
        assert resp.status == 200
    assert sim.state.tasks == {}
    assert sim.state.requests == []
    assert sim.state.balance == Decimal("5")
    assert sim.state.config.failure_rate == 0.0
    async with sim_session.get(f"{base}/_sim/tasks/{task_id}") as resp:
        assert resp.status == 404


async def test_same_seed_same_task_ids(sim_session: aiohttp.ClientSession) -> None:
    ids = []
    for _ in range(2):
        async with SimulatorServer(SimulatorConfig(seed=5, speed=100)) as sim:
            ids.append(await create(sim_session, sim, T2V, {"prompt": "cat"}))
    assert ids[0] == ids[1]


def test_cli_arguments_build_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    args = parser.parse_args(
        [
            "--speed",
            "50",
            "--failure-rate",
            "0.2",
            "--rate-limit-rate",
            "0.1",
            "--retry-after",
            "4",
            "--server-error-rate",
            "0.05",
            "--slow-rate",
            "0.01",
            "--slow-seconds",
            "2",
            "--malformed-rate",
            "0.02",
            "--drop-rate",
            "0.03",
            "--balance",
            "12.50",
            "--seed",
            "7",
        ]
    )
    config = config_from_args(args)
    assert (config.speed, config.failure_rate, config.rate_limit_rate) == (50, 0.2, 0.1)
    assert (config.retry_after, config.server_error_rate, config.slow_rate) == (4, 0.05, 0.01)
    assert (config.slow_seconds, config.malformed_rate, config.drop_rate) == (2, 0.02, 0.03)
    assert (config.balance, config.seed) == (Decimal("12.50"), 7)


async def test_serve_prints_one_line_and_stops_on_sigterm(
    sim_session: aiohttp.ClientSession,
) -> None:
    code = (
        "import argparse, asyncio\n"
        "from bot.simulator import add_simulator_arguments, serve\n"
        "parser = argparse.ArgumentParser()\n"
        "add_simulator_arguments(parser)\n"
        "asyncio.run(serve(parser.parse_args(['--port', '0', '--balance', '2.50'])))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert DEFAULT_MULEROUTER_KEY in line
        assert DEFAULT_VTRIX_KEY in line
        async with sim_session.get(match.group(1) + "/_sim/config") as resp:
            assert (await resp.json())["balance"] == "2.50"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert await proc.stdout.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
