"""download() against a real aiohttp server on 127.0.0.1: caps, errors, timeouts, no credentials."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.media import MediaRejected, download, fetch

MIB = 1024 * 1024
BODY = bytes(range(256)) * (3 * MIB // 2 // 256)  # 1.5 MB
seen_headers: list[dict[str, str]] = []


async def ok(request: web.Request) -> web.Response:
    seen_headers.append(dict(request.headers))
    return web.Response(body=BODY)


async def missing(request: web.Request) -> web.Response:
    return web.Response(status=404)


async def chunked(request: web.Request) -> web.StreamResponse:
    """No Content-Length: only counting the streamed body can enforce the cap."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(int(request.query.get("chunks", "8"))):
        try:
            await response.write(b"x" * 1024)
        except ConnectionResetError:
            break  # the client stopped reading at its cap
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(body=b"late")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/ok.png", ok)
    app.router.add_get("/missing.png", missing)
    app.router.add_get("/chunked.bin", chunked)
    app.router.add_get("/slow.bin", slow)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_a_body_within_the_cap_is_returned_whole(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    seen_headers.clear()
    url = str(server.make_url("/ok.png"))
    assert await download(session, url, max_bytes=len(BODY), name="ok.png") == BODY
    (headers,) = seen_headers
    assert "Authorization" not in headers
    assert headers["Accept-Encoding"] == "identity"


async def test_an_http_error_is_a_refusal_with_the_status(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    url = str(server.make_url("/missing.png"))
    with pytest.raises(MediaRejected) as info:
        await download(session, url, max_bytes=1000, name="photo.png")
    assert str(info.value) == (
        "Couldn't download photo.png from Discord (HTTP 404); attach it again."
    )


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    url = str(server.make_url("/ok.png"))
    with pytest.raises(MediaRejected) as info:
        await download(session, url, max_bytes=MIB, name="photo.png")
    assert str(info.value) == "photo.png is 1.5 MB; the limit is 1 MB. Use a smaller file."


async def test_a_streamed_body_over_the_cap_is_cut_off(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    url = str(server.make_url("/chunked.bin?chunks=2048"))
    with pytest.raises(MediaRejected) as info:
        await download(session, url, max_bytes=MIB, name="big.bin")
    assert str(info.value) == "big.bin is over the 1 MB limit. Use a smaller file."


async def test_a_streamed_body_within_the_cap_is_returned(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    url = str(server.make_url("/chunked.bin?chunks=8"))
    assert await download(session, url, max_bytes=8 * 1024) == b"x" * 8 * 1024


async def test_a_stalled_download_times_out(
    server: TestServer, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "DOWNLOAD_TIMEOUT_SECONDS", 0.2)
    with pytest.raises(MediaRejected, match=r"took longer than 0\.2 seconds; attach it again"):
        await download(session, str(server.make_url("/slow.bin")), max_bytes=100)


async def test_a_refused_connection_is_a_refusal(session: aiohttp.ClientSession) -> None:
    closed = TestServer(web.Application(), host="127.0.0.1", port=0)
    await closed.start_server()
    url = str(closed.make_url("/gone.png"))
    await closed.close()
    with pytest.raises(MediaRejected) as info:
        await download(session, url, max_bytes=100, name="gone.png")
    assert str(info.value) == (
        "Couldn't download gone.png from Discord (the connection failed); attach it again."
    )


async def test_a_link_that_is_not_http_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(MediaRejected, match="isn't a web address"):
        await download(session, "file:///etc/passwd", max_bytes=100)


@pytest.mark.parametrize("kind", ["auth", "header"])
async def test_a_session_with_credentials_is_a_programming_error(
    server: TestServer, kind: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # session auth is deprecated in 3.14
        client = (
            aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "secret"))
            if kind == "auth"
            else aiohttp.ClientSession(headers={"Authorization": "Bearer x"})
        )
    async with client:
        with pytest.raises(ValueError, match="without credentials"):
            await download(client, str(server.make_url("/ok.png")), max_bytes=len(BODY))
