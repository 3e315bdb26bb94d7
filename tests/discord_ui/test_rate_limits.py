"""Discord's 429s counted by templated route: discord.py's real ``HTTPClient`` against a
loopback server that rate-limits once, as Discord does (``Via`` header, JSON ``retry_after``);
and the process-wide request limiter (this process's share of the bot's 50 requests a second)
that every ``HTTPClient.request`` passes, on an injected clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from discord.http import HTTPClient, Route

from bot.discord_ui.rate_limits import (
    GLOBAL_REQUESTS_PER_SECOND,
    OTHER_ROUTE,
    RateLimitCounter,
    RequestLimiter,
    route_label,
)
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


class FakeTime:
    """An injectable clock whose ``sleep`` moves time on at once (and yields to the loop)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def fake_limiter(fake: FakeTime, rate: float = GLOBAL_REQUESTS_PER_SECOND) -> RequestLimiter:
    return RequestLimiter(rate, clock=fake.clock, sleep=fake.sleep)


async def taken_within(limiter: RequestLimiter, fake: FakeTime, seconds: float) -> int:
    """How many requests pass ``limiter`` in ``seconds`` of fake time, asked for back to back."""
    end = fake.now + seconds
    taken = 0
    while True:
        await limiter.acquire()
        if fake.now > end:
            return taken
        taken += 1


async def test_the_limiter_allows_fifty_a_second_by_default() -> None:
    fake = FakeTime()
    limiter = fake_limiter(fake)
    assert limiter.share == 1.0
    assert limiter.rate == GLOBAL_REQUESTS_PER_SECOND == 50
    for _ in range(50):  # a second's worth at once: no waiting, as today
        await limiter.acquire()
    assert fake.slept == []
    await limiter.acquire()  # the 51st waits for the next token
    assert fake.slept == [pytest.approx(1 / 50)]
    # Over ten seconds from empty: the rate, never more.
    assert await taken_within(limiter, fake, 10.0) == pytest.approx(500, abs=1)


async def test_a_share_of_the_rate_is_taken_from_outside() -> None:
    fake = FakeTime()
    limiter = fake_limiter(fake)
    limiter.set_share(0.5)  # two live processes
    assert limiter.share == 0.5
    assert limiter.rate == 25
    # The burst is capped to the new, smaller second's worth.
    assert await taken_within(limiter, fake, 0.0) == 25
    assert await taken_within(limiter, fake, 4.0) == pytest.approx(100, abs=1)
    limiter.set_share(1 / 3)
    assert await taken_within(limiter, fake, 3.0) == pytest.approx(50, abs=1)
    limiter.set_share(1.0)
    assert limiter.rate == 50


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    limiter = RequestLimiter()
    with pytest.raises(ValueError, match="share"):
        limiter.set_share(share)
    assert limiter.share == 1.0


async def test_waiting_requests_go_in_the_order_they_came() -> None:
    fake = FakeTime()
    limiter = fake_limiter(fake, rate=2.0)
    order: list[int] = []

    async def request(number: int) -> None:
        await limiter.acquire()
        order.append(number)

    await asyncio.gather(*(request(n) for n in range(6)))
    assert order == list(range(6))
    assert fake.now - 1000.0 == pytest.approx(2.0)  # 2 at once, then 4 at 2 a second


async def test_every_http_client_request_passes_the_limiter_and_retries_are_unchanged(
    discord_api: FakeDiscord,
) -> None:
    fake = FakeTime()
    limiter = fake_limiter(fake, rate=2.0)
    taken: list[float] = []
    acquire = limiter.acquire

    async def counted() -> None:
        await acquire()
        taken.append(fake.now)

    limiter.acquire = counted  # type: ignore[method-assign]
    counter = RateLimitCounter(lambda route: None)
    http = HTTPClient(asyncio.get_running_loop(), http_trace=counter.trace)
    counter.watch(http, limiter=limiter)
    route = Route("GET", "/channels/{channel_id}", channel_id=CHANNEL_ID)
    try:
        await http.static_login("token")  # GET /users/@me: through HTTPClient.request too
        discord_api.limited = 1
        await http.request(route)  # a 429, then discord.py's own retry
        await http.request(route)
        await http.request(route)
    finally:
        await http.close()
    assert len(taken) == 4  # one token per request discord.py was asked to make...
    assert discord_api.paths.count(f"/api/v10/channels/{CHANNEL_ID}") == 4  # ...its retry free
    assert fake.slept == [pytest.approx(0.5)] * 2  # 2 at once, then 2 a second
