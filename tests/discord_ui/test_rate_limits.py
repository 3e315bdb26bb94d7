"""Discord's 429s counted by templated route: discord.py's real ``HTTPClient`` against a
loopback server that rate-limits once, as Discord does (``Via`` header, JSON ``retry_after``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from discord.http import HTTPClient, Route

from bot.discord_ui.rate_limits import OTHER_ROUTE, RateLimitCounter, route_label
from bot.http_server import HttpServer

CHANNEL_ID = 123456789012345678


class FakeDiscord:
    """``/users/@me`` for the log-in; every other path answers 429 ``limited`` times, then 200."""

    def __init__(self) -> None:
        self.limited = 0
        self.paths: list[str] = []
        self.server = HttpServer("127.0.0.1", 0)
        self.server.add_routes([web.route("*", "/{tail:.*}", self._answer)])

    async def _answer(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if request.path.endswith("/users/@me"):
            return discord_json({"id": "1", "username": "wanbot", "discriminator": "0"})
        if self.limited > 0:
            self.limited -= 1
            body = {"message": "You are being rate limited.", "retry_after": 0.01, "global": False}
            return discord_json(body, status=429)
        return discord_json({"id": str(CHANNEL_ID)})


def discord_json(body: object, status: int = 200) -> web.Response:
    # Exactly Discord's content type (discord.py reads JSON only for this string) and Via
    # (without it discord.py takes a 429 for a Cloudflare ban).
    headers = {"Content-Type": "application/json", "Via": "1.1 google"}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)


@pytest.fixture
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.server.start()
    monkeypatch.setattr(Route, "BASE", fake.server.url + "/api/v10")
    yield fake
    await fake.server.stop()


def test_the_label_is_the_template_never_the_ids() -> None:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=CHANNEL_ID)
    assert route_label(route) == "POST /channels/{channel_id}/messages"
    assert str(CHANNEL_ID) in route.url


async def test_429s_discord_py_retries_are_counted_by_route(discord_api: FakeDiscord) -> None:
    seen: list[str] = []
    counter = RateLimitCounter(seen.append)
    http = HTTPClient(asyncio.get_running_loop(), http_trace=counter.trace)
    counter.watch(http)
    try:
        await http.static_login("token")
        discord_api.limited = 2
        answer = await http.request(Route("GET", "/channels/{channel_id}", channel_id=CHANNEL_ID))
    finally:
        await http.close()
    assert answer == {"id": str(CHANNEL_ID)}  # discord.py waited and retried twice
    assert discord_api.paths.count(f"/api/v10/channels/{CHANNEL_ID}") == 3
    assert seen == ["GET /channels/{channel_id}"] * 2


async def test_a_429_outside_a_route_counts_as_other(discord_api: FakeDiscord) -> None:
    seen: list[str] = []
    counter = RateLimitCounter(seen.append)
    discord_api.limited = 1
    async with aiohttp.ClientSession(trace_configs=[counter.trace]) as session:
        async with session.post(discord_api.server.url + "/api/v10/interactions/1/tok") as answer:
            assert answer.status == 429
        async with session.post(discord_api.server.url + "/api/v10/interactions/1/tok") as answer:
            assert answer.status == 200
    assert seen == [OTHER_ROUTE]
