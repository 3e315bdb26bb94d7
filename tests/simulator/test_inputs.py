"""The simulator's input image checks: sizes read from a prefix of the payload, same verdicts.

A size is read from a decoded prefix of a large payload (the simulator shares the machine with
the bot in the benchmarks); every verdict must stay that of decoding the whole payload, which
:func:`_decoded_whole` (the check as it was before) gives here.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from PIL import Image, PngImagePlugin

from bot.simulator import DEFAULT_MULEROUTER_KEY, SimulatorServer, http_common
from bot.simulator import inputs as sim_inputs
from bot.simulator.inputs import HEADER_CHARS, image_size

SIDE = 800  # noise at 800×800 is ~1.9 MB of PNG: its payload is several prefixes long


def _decoded_whole(data_uri: str) -> tuple[int, int] | None:
    """The verdict of decoding the whole payload (the reference every answer must match)."""
    try:
        raw = base64.b64decode(data_uri.partition(",")[2], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        return None


def _noise(side: int = SIDE) -> Image.Image:
    return Image.frombytes("RGB", (side, side), random.Random(5).randbytes(side * side * 3))


def _uri(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def big_png() -> str:
    return _uri(_encoded(_noise(), "PNG"))


def _decoded_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every payload (or prefix) :func:`image_size` decodes, from now on."""
    seen: list[int] = []
    original = sim_inputs._open_size

    def spy(payload: str, formats: tuple[str, ...] | None) -> tuple[int, int] | None:
        seen.append(len(payload))
        return original(payload, formats)

    monkeypatch.setattr(sim_inputs, "_open_size", spy)
    return seen


def test_a_large_images_size_is_read_from_a_prefix_of_its_payload(
    big_png: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = big_png.partition(",")[2]
    assert len(payload) > 4 * HEADER_CHARS
    assert HEADER_CHARS % 4 == 0
    decoded = _decoded_lengths(monkeypatch)
    assert image_size(big_png) == (SIDE, SIDE)
    assert decoded == [HEADER_CHARS]  # the prefix only, never the whole payload


def test_a_header_beyond_the_prefix_falls_back_to_the_whole_payload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A PNG whose text chunk (before the pixels) runs past the prefix: Pillow cannot read it
    # from the prefix, so the whole payload is decoded, and the size is still found.
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * HEADER_CHARS)
    uri = _uri(_encoded(Image.new("RGB", (500, 400)), "PNG", pnginfo=info))
    decoded = _decoded_lengths(monkeypatch)
    assert image_size(uri) == _decoded_whole(uri) == (500, 400)
    assert decoded == [HEADER_CHARS, len(uri.partition(",")[2])]


def _odd_payloads() -> dict[str, Callable[[str], str]]:
    """Ways a large data: URI can be odd, each a function of a valid one."""

    def cut(keep: int) -> Callable[[str], str]:
        return lambda uri: uri[: uri.index(",") + 1 + keep]

    def replace_at(position: int, character: str) -> Callable[[str], str]:
        def edit(uri: str) -> str:
            at = uri.index(",") + 1 + position
            return uri[:at] + character + uri[at + 1 :]

        return edit

    return {
        "valid": lambda uri: uri,
        # Truncated at four characters: whole base64, a cut image whose header is intact.
        "truncated-at-a-quad": cut(3 * HEADER_CHARS),
        "truncated-mid-quad": cut(3 * HEADER_CHARS + 1),
        "truncated-two-past-a-quad": cut(3 * HEADER_CHARS + 2),
        "padding-in-the-middle": replace_at(2 * HEADER_CHARS, "="),
        "not-base64-in-the-tail": replace_at(2 * HEADER_CHARS + 1, "!"),
        "url-safe-alphabet-in-the-tail": replace_at(2 * HEADER_CHARS + 1, "-"),
        "non-ascii-in-the-tail": replace_at(2 * HEADER_CHARS + 1, "é"),
        "three-pads": lambda uri: uri.rstrip("=") + "===",
        "pads-then-data": lambda uri: uri.rstrip("=") + "==AAAA",
        "header-destroyed": replace_at(4, "A"),
    }


@pytest.mark.parametrize("odd", list(_odd_payloads()))
def test_odd_large_payloads_get_the_verdict_of_a_whole_decode(big_png: str, odd: str) -> None:
    uri = _odd_payloads()[odd](big_png)
    assert image_size(uri) == _decoded_whole(uri)


def test_the_three_verdicts_of_odd_payloads(big_png: str) -> None:
    payloads = _odd_payloads()
    assert image_size(payloads["truncated-at-a-quad"](big_png)) == (SIDE, SIDE)
    assert image_size(payloads["truncated-mid-quad"](big_png)) is None
    assert image_size(payloads["not-base64-in-the-tail"](big_png)) is None
    assert image_size(payloads["header-destroyed"](big_png)) is None


@pytest.mark.parametrize(
    ("fmt", "mime", "options"),
    [
        ("JPEG", "image/jpeg", {"quality": 95}),
        ("JPEG", "image/jpeg", {"quality": 95, "icc_profile": b"\0" * (HEADER_CHARS + 99)}),
        ("BMP", "image/bmp", {}),
        ("WEBP", "image/webp", {"lossless": True}),
        ("GIF", "image/png", {}),  # mislabelled: Pillow reads what the bytes are
        ("TIFF", "image/png", {}),
    ],
    ids=["jpeg", "jpeg-huge-icc", "bmp", "webp", "gif", "tiff"],
)
def test_every_format_gets_the_verdict_of_a_whole_decode(
    fmt: str, mime: str, options: dict[str, Any]
) -> None:
    uri = _uri(_encoded(_noise(), fmt, **options), mime)
    assert len(uri.partition(",")[2]) > HEADER_CHARS
    assert image_size(uri) == _decoded_whole(uri) == (SIDE, SIDE)


def test_a_decompression_bomb_is_unreadable_from_the_prefix_too(
    big_png: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SIDE * SIDE // 4)  # SIDE² is over twice it
    assert image_size(big_png) is _decoded_whole(big_png) is None


def test_small_and_empty_payloads_are_decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    small = _uri(_encoded(Image.new("RGB", (30, 20)), "PNG"))
    decoded = _decoded_lengths(monkeypatch)
    assert image_size(small) == (30, 20)
    assert image_size("data:image/png;base64,") is None
    assert decoded == [len(small.partition(",")[2]), 0]


async def test_a_create_body_is_parsed_once_for_the_recorder_and_the_route(
    simulator: SimulatorServer,
    sim_session: aiohttp.ClientSession,
    big_png: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses: list[int] = []
    original = http_common._Body.parse

    def counting(raw: bytes) -> http_common._Body:
        parses.append(len(raw))
        return original(raw)

    monkeypatch.setattr(http_common._Body, "parse", staticmethod(counting))
    body = {"prompt": "a hat", "images": [big_png], "n": 1, "size": "1024*1024"}
    async with sim_session.post(
        simulator.base_url + "/vendors/alibaba/v1/wan2.5-i2i-preview/generation",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"},
    ) as resp:
        assert resp.status == 202
    assert len(parses) == 1
    (record,) = simulator.state.requests
    assert record.body == body  # the recorder keeps the whole body, as sent
    assert record.to_json()["body"]["images"][0].startswith("data:image/png;base64,<")
