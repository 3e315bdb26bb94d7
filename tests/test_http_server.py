"""The bot's HTTP server over real sockets: routes, the body limit, and one-line start errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web

from bot.http_server import MAX_BODY_BYTES, HttpServer, HttpServerError


async def echo_size(request: web.Request) -> web.Response:
    return web.json_response({"size": len(await request.read())})


async def pong(request: web.Request) -> web.Response:
    return web.Response(text="pong")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def test_serves_registered_routes_on_an_ephemeral_port() -> None:
    server = HttpServer("127.0.0.1", 0)
    server.add_routes([web.post("/echo", echo_size)])
    server.add_routes([web.get("/ping", pong)])
    await server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            async with session.post(server.url + "/echo", data=b"x" * MAX_BODY_BYTES) as answer:
                assert (answer.status, await answer.json()) == (200, {"size": MAX_BODY_BYTES})
            async with session.post(server.url + "/echo", data=b"x" * (MAX_BODY_BYTES + 1)) as a:
                assert a.status == 413
            async with session.get(server.url + "/ping") as answer:
                assert await answer.text() == "pong"
        with pytest.raises(RuntimeError, match="before the HTTP server starts"):
            server.add_routes([web.get("/late", echo_size)])
    finally:
        await server.stop()
    assert not server.listening


async def test_nothing_to_serve_means_not_listening() -> None:
    server = HttpServer("127.0.0.1", 0)
    await server.start()
    assert not server.listening
    await server.stop()


async def test_a_port_in_use_is_one_line_naming_the_setting(taken_port: int) -> None:
    server = HttpServer("127.0.0.1", taken_port)
    server.add_routes([web.post("/echo", echo_size)])
    with pytest.raises(HttpServerError) as info:
        await server.start()
    message = str(info.value)
    assert message.startswith(f"WANBOT_HTTP_PORT {taken_port} is already in use on 127.0.0.1")
    assert "\n" not in message
    assert info.value.__cause__ is None
    assert not server.listening


@pytest.mark.parametrize("host", ["no-such-host.invalid", "203.0.113.7"])
async def test_an_address_not_of_this_machine_is_one_line_naming_the_setting(host: str) -> None:
    server = HttpServer(host, 0)
    server.add_routes([web.post("/echo", echo_size)])
    with pytest.raises(HttpServerError) as info:
        await server.start()
    assert str(info.value).startswith(f"WANBOT_HTTP_HOST {host!r} is not an address")
