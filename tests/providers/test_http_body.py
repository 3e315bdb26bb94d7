"""A create body is ``json.dumps(body)`` byte for byte, whether or not its images are spliced.

:func:`bot.providers.http.json_body` writes long strings that need no escaping as their bytes;
these tests hold it to the exact output of ``json.dumps`` (what aiohttp's ``json=`` sent
before), and check that the create request carries those bytes as ``application/json``, once
per try.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.catalog import data_uri
from bot.config import ProviderName
from bot.providers import RetryPolicy
from bot.providers.errors import RateLimited
from bot.providers.http import SPLICE_MIN_CHARS, ProviderHTTP, json_body

IMAGE = data_uri("image/png", bytes(range(256)) * 4000)  # about 1.4 MB of base64
LONG = SPLICE_MIN_CHARS + 10

BODIES: list[Any] = [
    {"model": "wan2.5-i2i-preview", "prompt": "make it autumn", "images": [IMAGE, IMAGE[:LONG]]},
    {"model": "x", "input": {"img_url": IMAGE, "prompt": "p"}, "parameters": {"seed": 7}},
    {"text": 'a “quoted” "cat" \\ é ☃\n\t', "n": 1, "none": None, "ok": True, "f": 1.5},
    {"empty": {}, "list": [], "nested": [[1, [2, {"k": [IMAGE]}]], ()]},
    # Long strings JSON must escape are left to json.dumps.
    {"quote": "A" * LONG + '"'},
    {"backslash": "A" * LONG + "\\"},
    {"control": "A" * LONG + "\x01", "delete": "A" * LONG + "\x7f", "newline": "A" * LONG + "\n"},
    {"accent": "é" * LONG, "astral": "\U0001f600" * LONG},
    {"space_and_tilde": " ~" * LONG},
    # Keys json.dumps turns into strings, and values it writes its own way.
    {1: "one", False: "no", None: "none", 2.5: "x"},
    {"nan": float("nan"), "inf": float("inf"), "big": 10**30},
    "A" * LONG,
    [IMAGE, "short", 3],
    (IMAGE,),
    {},
    [],
    None,
]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: repr(body)[:40])
def test_json_body_is_json_dumps_byte_for_byte(body: Any) -> None:
    assert json_body(body) == json.dumps(body).encode()


def test_an_image_is_spliced_unescaped_and_reads_back() -> None:
    body = {"images": [IMAGE]}
    encoded = json_body(body)
    assert IMAGE.encode() in encoded
    assert json.loads(encoded) == body
    payload = json.loads(encoded)["images"][0].partition(",")[2]
    assert base64.b64decode(payload, validate=True) == bytes(range(256)) * 4000


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[str, bytes]]]]:
    """A local endpoint answering 429 once, then 200; it records each request's body."""
    seen: list[tuple[str, bytes]] = []

    async def create(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Content-Type", ""), await request.read()))
        if len(seen) == 1:
            return web.json_response({"detail": "slow down"}, status=429)
        return web.json_response({"task_info": {"id": "task-1"}})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/create", create)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_create_sends_exactly_json_dumps_as_json_on_every_try(
    recorder: tuple[str, list[tuple[str, bytes]]],
) -> None:
    base_url, seen = recorder
    body = {"prompt": "make it autumn", "images": [IMAGE], "n": 1}

    async def no_sleep(seconds: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        http = ProviderHTTP(
            session,
            provider=ProviderName.MULEROUTER,
            base_url=base_url,
            api_key=SecretStr("test-key"),
            sleep=no_sleep,
            create_retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
        )
        answer = await http.create("/create", body)
    assert answer == {"task_info": {"id": "task-1"}}
    assert seen == [("application/json", json.dumps(body).encode())] * 2


async def test_a_refused_create_still_raises_its_error(
    recorder: tuple[str, list[tuple[str, bytes]]],
) -> None:
    base_url, seen = recorder

    async def no_sleep(seconds: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        http = ProviderHTTP(
            session,
            provider=ProviderName.MULEROUTER,
            base_url=base_url,
            api_key=SecretStr("test-key"),
            sleep=no_sleep,
            create_retry=RetryPolicy(attempts=1),
        )
        with pytest.raises(RateLimited):
            await http.create("/create", {"images": [IMAGE]})
    assert len(seen) == 1
